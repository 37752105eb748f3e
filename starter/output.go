package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
	"github.com/example/dunning/store"
)

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func printStatus(w io.Writer, v account.StatusView) error {
	m := func(minor int64) string { return money.Format(minor, v.Currency) }
	fmt.Fprintf(w, "Customer %s (%s) <%s>\n", v.CustomerID, v.Name, v.Email)
	tier := v.RiskTier
	if tier == "" {
		tier = "-"
	}
	fmt.Fprintf(w, "Status:   %s   Access: %s   Risk: %s   Policy: %s\n", v.Status, v.Access, tier, v.Policy)
	fmt.Fprintf(w, "Balance:  %s   Overdue: %s (%d days)   Credit: %s\n", m(v.BalanceMinor), m(v.OverdueMinor), v.DaysPastDue, m(v.CreditMinor))
	for _, s := range v.Suspensions {
		fmt.Fprintf(w, "Suspended for %s since %s by %s\n", s.Reason, when(s.Since), s.Actor)
	}
	for _, e := range v.Exemptions {
		fmt.Fprintf(w, "Exempt:   %s since %s by %s until %s: %s\n", e.Exemption, when(e.Since), e.Actor, when(e.Until), e.Reason)
	}
	if err := printSubscriptions(w, v); err != nil {
		return err
	}
	if p := v.Provisioning; p.State != account.ProvisioningInSync && p.State != "" {
		fmt.Fprintf(w, "Provisioning: %s (decided %s, confirmed %s, waiting: %s)", p.State, p.Decided, orDash(string(p.Applied)), joinProvisions(p.Pending))
		if p.State == account.ProvisioningFailing {
			fmt.Fprintf(w, " since %s, %d failed rounds, next try %s: %s", when(p.FailingSince), p.Attempts, when(p.NextRetryAt), p.LastError)
		}
		fmt.Fprintln(w)
	}
	if c := v.Card; c != nil {
		charging := "charged automatically"
		switch {
		case c.Blocked != "":
			charging = "not charged until replaced (" + c.Blocked + ")"
		case !v.AutomaticCharging:
			charging = "not charged automatically (the policy has no collection rules)"
		}
		fmt.Fprintf(w, "Card:     %s %s, expires %02d/%d: %s\n", c.Brand, c.Last4, c.ExpMonth, c.ExpYear, charging)
	}
	if v.OpenChargebacks > 0 || v.LostChargebacks > 0 {
		fmt.Fprintf(w, "Chargebacks: %d open, %d lost\n", v.OpenChargebacks, v.LostChargebacks)
	}
	if v.NextAction != "" {
		fmt.Fprintf(w, "Next:     %s at %s\n", v.NextAction, when(v.NextActionAt))
	}
	if len(v.Invoices) == 0 {
		fmt.Fprintln(w, "No open invoices.")
		return nil
	}
	fmt.Fprintln(w, "Open invoices:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  INVOICE\tAMOUNT\tOUTSTANDING\tDUE\tSTAGE\tCHARGES\tNEXT")
	for _, inv := range v.Invoices {
		next := "-"
		switch {
		case inv.Disputed:
			next = "paused: disputed"
		case !inv.PromiseUntil.IsZero():
			next = "paused: promised until " + when(inv.PromiseUntil)
		case inv.NextStage != "":
			next = inv.NextStage + " at " + when(inv.NextActionAt)
		}
		charges := "-"
		if inv.ChargeAttempts > 0 || !inv.NextChargeAt.IsZero() {
			charges = fmt.Sprintf("%d tried", inv.ChargeAttempts)
			if !inv.NextChargeAt.IsZero() {
				charges += ", next " + when(inv.NextChargeAt)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", inv.ID, m(inv.AmountMinor), m(inv.OutstandingMinor), when(inv.DueAt), inv.Stage, charges, next)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printPayment(w io.Writer, r account.PaymentResult, currency string) error {
	if r.Duplicate {
		fmt.Fprintf(w, "payment %s was already recorded: nothing changed\n", r.PaymentID)
	} else {
		fmt.Fprintf(w, "payment %s recorded\n", r.PaymentID)
	}
	for _, al := range r.Allocations {
		fmt.Fprintf(w, "  %s applied to %s\n", money.Format(al.AmountMinor, currency), al.InvoiceID)
	}
	fmt.Fprintf(w, "balance %s, credit %s, status %s\n", money.Format(r.BalanceMinor, currency), money.Format(r.CreditMinor, currency), r.Status)
	return nil
}

func printOutbox(w io.Writer, rows []store.OutboxMessage) error {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No emails.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tSTATUS\tDELIVERY\tCHANNEL\tSTAGE\tKEY\tSUBJECT")
	for _, r := range rows {
		delivery := r.DeliveryStatus
		if delivery == "" {
			delivery = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(r.CreatedAt), r.Status, delivery, r.Channel, r.Stage, r.MessageKey, r.Subject)
	}
	return tw.Flush()
}

func printAudit(w io.Writer, rows []store.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tINVOICE\tREASON")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", when(r.At), r.Actor, r.Action, r.InvoiceID.String, strings.ReplaceAll(r.Reason, "\n", " "))
	}
	return tw.Flush()
}

// joinProvisions lists provisioning actions for the status text.
func joinProvisions(ps []account.Provision) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// printSubscriptions lists the subscriptions with their state and what
// they are suspended for.
func printSubscriptions(w io.Writer, v account.StatusView) error {
	if len(v.Subscriptions) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Subscriptions:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tPRODUCT\tQTY\tPRICE\tEVERY\tSTATUS\tPAID THROUGH\tNEXT BILL\tNOTE")
	for _, s := range v.Subscriptions {
		qty := strconv.Itoa(s.Quantity)
		if s.NextQuantity > 0 {
			qty += " -> " + strconv.Itoa(s.NextQuantity)
		}
		note := "-"
		switch {
		case len(s.SuspendedFor) > 0:
			note = "suspended for " + strings.Join(s.SuspendedFor, ",")
		case !s.CancelAt.IsZero() && s.Status != account.SubscriptionCancelled:
			note = "cancels " + when(s.CancelAt)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d periods\t%s\t%s\t%s\t%s\n", s.ID, s.Product, qty, money.Format(s.UnitPriceMinor, v.Currency),
			s.IntervalPeriods, s.Status, when(s.PaidThrough), when(s.NextBillAt), note)
	}
	return tw.Flush()
}
