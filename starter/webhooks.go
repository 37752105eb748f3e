package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/example/dunning/ops"
	"github.com/example/dunning/store"
	"github.com/example/dunning/webhooks"
)

func (a *app) webhooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Register integrators' webhook endpoints, read the delivery log, replay deliveries",
		Long: `Integrators receive signed account events (see the README for the types and
payloads) at HTTPS endpoints registered here. Every event is delivered at least
once, in order per customer, retried with backoff for days.`,
	}
	cmd.AddCommand(a.webhooksAddCmd(), a.webhooksListCmd(), a.webhooksDeliveriesCmd(), a.webhooksAttemptsCmd(), a.webhooksReplayCmd(),
		a.webhooksActiveCmd("disable", false, "Stop giving an endpoint new events; its pending deliveries wait"),
		a.webhooksActiveCmd("enable", true, "Give an endpoint events again; its pending deliveries resume in order"))
	return cmd
}

func (a *app) webhooksAddCmd() *cobra.Command {
	var events, description string
	cmd := &cobra.Command{
		Use:   "add URL --events TYPE[,TYPE...]",
		Short: "Register an endpoint; prints its signing secret, shown this once",
		Example: `  starter webhooks add https://crm.example.com/hooks/dunning --events account.suspended,account.reinstated
  starter webhooks add https://erp.example.com/dunning --events '*'`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			types := strings.Split(events, ",")
			reg, err := a.ops.AddWebhook(context.Background(), ops.NewWebhook{URL: args[0], EventTypes: types, Description: description, Actor: a.actor})
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(reg)
			}
			fmt.Fprintf(a.out, "endpoint %s registered for %s\n", reg.ID, strings.Join(reg.EventTypes, ", "))
			fmt.Fprintf(a.out, "signing secret (shown once; keep it where the receiver verifies Dunning-Signature):\n%s\n", reg.Secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&events, "events", "", "event types to receive, comma-separated, or * for all: "+typeNames())
	cmd.Flags().StringVar(&description, "description", "", "what the endpoint is for")
	_ = cmd.MarkFlagRequired("events")
	return cmd
}

func typeNames() string {
	var s []string
	for _, t := range webhooks.Types() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func (a *app) webhooksListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the registered endpoints (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			eps, err := a.ops.Webhooks(context.Background())
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(eps)
			}
			if len(eps) == 0 {
				fmt.Fprintln(a.out, "No endpoints.")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACTIVE\tURL\tEVENTS\tCREATED BY\tCREATED")
			for _, e := range eps {
				fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%s\t%s\n", e.ID, e.Active, e.URL, strings.Join(e.EventTypes, ","), e.CreatedBy, when(e.CreatedAt))
			}
			return tw.Flush()
		},
	}
}

func (a *app) webhooksDeliveriesCmd() *cobra.Command {
	var f ops.DeliveryFilter
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "List deliveries, newest first",
		Example: `  starter webhooks deliveries --status failed
  starter webhooks deliveries --endpoint we_0123456789abcdef --customer acme`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ds, err := a.ops.WebhookDeliveries(context.Background(), f)
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(ds)
			}
			return printDeliveries(a.out, ds)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.EndpointID, "endpoint", "", "only this endpoint")
	fl.StringVar(&f.Status, "status", "", "only this status: pending, delivered, failed, cancelled")
	fl.StringVar(&f.CustomerID, "customer", "", "only this customer's events")
	fl.IntVar(&f.Limit, "limit", 100, fmt.Sprintf("at most this many (up to %d)", ops.MaxDeliveryPage))
	return cmd
}

func printDeliveries(w io.Writer, ds []store.Delivery) error {
	if len(ds) == 0 {
		fmt.Fprintln(w, "No deliveries.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tATTEMPTS\tNEXT\tENDPOINT\tCUSTOMER\tEVENT\tTYPE\tLAST ERROR")
	for _, d := range ds {
		next := "-"
		if d.Status == store.DeliveryPending {
			next = when(d.NextAttemptAt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Status, d.Attempts, next, d.EndpointID, d.CustomerID,
			d.EventID, d.EventType, orDash(d.LastError))
	}
	return tw.Flush()
}

func deliveryID(arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, usage("delivery %q is not a delivery ID (a positive number, from `starter webhooks deliveries`)", arg)
	}
	return id, nil
}

func (a *app) webhooksAttemptsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "attempts DELIVERY_ID",
		Short: "Show a delivery's log of attempts",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			id, err := deliveryID(args[0])
			if err != nil {
				return err
			}
			log, err := a.ops.WebhookAttempts(context.Background(), id)
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(log)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ATTEMPT\tSTARTED\tMS\tSTATUS\tERROR")
			for _, at := range log {
				ms, code := "-", "-"
				if at.DurationMS != nil {
					ms = strconv.FormatInt(*at.DurationMS, 10)
				} else {
					at.Error = "no outcome recorded (the worker stopped during it)"
				}
				if at.StatusCode != nil {
					code = strconv.FormatInt(*at.StatusCode, 10)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", at.Attempt, when(at.StartedAt), ms, code, orDash(at.Error))
			}
			return tw.Flush()
		},
	}
}

func (a *app) webhooksReplayCmd() *cobra.Command {
	var failedOf string
	cmd := &cobra.Command{
		Use:   "replay DELIVERY_ID | --failed ENDPOINT_ID",
		Short: "Deliver again, now, with a fresh retry schedule (the same event ID)",
		Example: `  starter webhooks replay 42
  starter webhooks replay --failed we_0123456789abcdef`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if (failedOf == "") == (len(args) == 0) {
				return usage("name one delivery ID, or --failed ENDPOINT_ID for every failed delivery of an endpoint")
			}
			if failedOf != "" {
				n, err := a.ops.ReplayFailed(context.Background(), failedOf)
				if err != nil {
					return explain(err)
				}
				if a.json {
					return a.printJSON(map[string]int{"replayed": n})
				}
				fmt.Fprintf(a.out, "%d failed deliveries of %s are due again\n", n, failedOf)
				return nil
			}
			id, err := deliveryID(args[0])
			if err != nil {
				return err
			}
			d, err := a.ops.ReplayDelivery(context.Background(), id)
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(d)
			}
			fmt.Fprintf(a.out, "delivery %d (%s %s to %s) is due again now\n", d.ID, d.EventType, d.EventID, d.EndpointID)
			return nil
		},
	}
	cmd.Flags().StringVar(&failedOf, "failed", "", "replay every failed delivery of this endpoint")
	return cmd
}

func (a *app) webhooksActiveCmd(name string, active bool, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ENDPOINT_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			e, err := a.ops.SetWebhookActive(context.Background(), args[0], active)
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(e)
			}
			fmt.Fprintf(a.out, "endpoint %s %sd\n", e.ID, name)
			return nil
		},
	}
}
