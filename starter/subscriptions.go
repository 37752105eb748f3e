package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

// subscriptionCmd groups the subscription updates.
func (a *app) subscriptionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscription",
		Short: "Add a subscription, change its quantity, cancel it",
	}
	var s account.SubscriptionSpec
	add := &cobra.Command{
		Use:     "add CUSTOMER_ID SUBSCRIPTION_ID --product TEXT --quantity N --unit-price MINOR",
		Short:   "Add a subscription; its first period, to the next billing date, is invoiced at once prorated by day",
		Example: "  starter subscription add acme storage --product 'Storage 1 TB' --quantity 2 --unit-price 1500",
		Args:    cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			s.SubscriptionID, s.Actor = args[1], a.actor
			return viewUpdate(a, args[0], workflows.UpdateAddSubscription, s)
		},
	}
	add.Flags().StringVar(&s.Product, "product", "", "what is sold (required)")
	add.Flags().IntVar(&s.Quantity, "quantity", 1, "units")
	add.Flags().Int64Var(&s.UnitPriceMinor, "unit-price", 0, "price per unit and interval, in minor units (required)")
	add.Flags().IntVar(&s.IntervalPeriods, "interval", 1, "billing periods of the policy per interval (12 on a monthly policy: yearly)")
	add.Flags().IntVar(&s.TermPeriods, "term", 0, "commitment in billing periods")

	var q account.QuantityChange
	quantity := &cobra.Command{
		Use:     "quantity CUSTOMER_ID SUBSCRIPTION_ID N",
		Short:   "Change a subscription's quantity from its next billed period",
		Example: "  starter subscription quantity acme seats 8 --reason 'new hires'",
		Args:    cobra.ExactArgs(3),
		RunE: func(_ *cobra.Command, args []string) error {
			n, err := positiveInt(args[2])
			if err != nil {
				return usage("quantity: %v", err)
			}
			q.SubscriptionID, q.Quantity, q.Actor = args[1], n, a.actor
			return viewUpdate(a, args[0], workflows.UpdateChangeQuantity, q)
		},
	}
	quantity.Flags().StringVar(&q.Reason, "reason", "", "why")

	var c account.Cancellation
	cancel := &cobra.Command{
		Use:     "cancel CUSTOMER_ID SUBSCRIPTION_ID --reason TEXT [--now]",
		Short:   "Cancel a subscription at the end of its billed period (or term), or now",
		Example: "  starter subscription cancel acme storage --reason 'moved provider'",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.SubscriptionID, c.Actor, c.When = args[1], a.actor, account.CancelAtPeriodEnd
			if now, _ := cmd.Flags().GetBool("now"); now {
				c.When = account.CancelNow
			}
			return viewUpdate(a, args[0], workflows.UpdateCancelSubscription, c)
		},
	}
	cancel.Flags().StringVar(&c.Reason, "reason", "", "why (required)")
	cancel.Flags().Bool("now", false, "end service at once instead of at period end")
	cmd.AddCommand(add, quantity, cancel)
	return cmd
}

// exemptionCmd groups the exemption updates.
func (a *app) exemptionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exemption",
		Short: "Exempt an account from enforcement, dunning or automatic charging",
	}
	var r account.ExemptionRequest
	var until string
	set := &cobra.Command{
		Use:     "set CUSTOMER_ID enforcement_off|no_dunning|manual_pay --reason TEXT [--until TIME]",
		Short:   "Put an exemption in force, with an audited reason and an optional expiry",
		Example: "  starter exemption set acme enforcement_off --reason 'CFO promised by phone' --until 2026-03-01",
		Args:    cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			if until != "" {
				t, err := ops.ParseTime(until)
				if err != nil {
					return usage("--until: %v", err)
				}
				r.Until = t
			}
			r.Exemption, r.Actor = account.Exemption(args[1]), a.actor
			return viewUpdate(a, args[0], workflows.UpdateSetExemption, r)
		},
	}
	set.Flags().StringVar(&r.Reason, "reason", "", "why (required)")
	set.Flags().StringVar(&until, "until", "", "when it ends by itself, RFC 3339 or YYYY-MM-DD")
	var rm account.ExemptionRemoval
	remove := &cobra.Command{
		Use:   "remove CUSTOMER_ID EXEMPTION --reason TEXT",
		Short: "End an exemption now: what it held back resumes at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			rm.Exemption, rm.Actor = account.Exemption(args[1]), a.actor
			return viewUpdate(a, args[0], workflows.UpdateRemoveExemption, rm)
		},
	}
	remove.Flags().StringVar(&rm.Reason, "reason", "", "why (required)")
	cmd.AddCommand(set, remove)
	return cmd
}

func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive whole number", s)
	}
	return n, nil
}
