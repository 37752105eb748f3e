package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

func (a *app) onboardCmd() *cobra.Command {
	var file string
	var app account.Application
	cmd := &cobra.Command{
		Use:   "onboard",
		Short: "Start a customer's lifecycle from an application (JSON file or flags)",
		Long: `Start the CustomerLifecycle workflow (ID customer-<customer_id>) for a new customer.

Give the application as a JSON file (--file app.json, or --file - for standard
input) in the public contract's form, or with flags. Flags given together with
a file override its fields. The application is checked before anything starts.`,
		Example: `  starter onboard --file acme.json
  starter onboard --customer-id acme --name "Acme Ltd" --email billing@acme.test \
    --phone +14155550100 --country US --currency USD --monthly-fee-minor 10000 \
    --instrument card --card-bin 424242 --signup-ip 203.0.113.7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in account.Application
			if file != "" {
				data, err := readFile(file)
				if err != nil {
					return usage("%v", err)
				}
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&in); err != nil {
					return usage("application %s: %v", file, err)
				}
			}
			overlay(cmd, &in, app)
			in.Normalize()
			workflowID, runID, err := a.ops.Onboard(context.Background(), in)
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(map[string]string{"customer_id": in.CustomerID, "workflow_id": workflowID, "run_id": runID})
			}
			fmt.Fprintf(a.out, "onboarded %s: workflow %s (run %s)\n", in.CustomerID, workflowID, runID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "application JSON file ('-' for standard input)")
	f.StringVar(&app.CustomerID, "customer-id", "", "customer ID (letters, digits, '.', '_', '-')")
	f.StringVar(&app.Name, "name", "", "customer's name")
	f.StringVar(&app.Email, "email", "", "billing email address")
	f.StringVar(&app.Phone, "phone", "", "phone in E.164 form, e.g. +14155550100")
	f.StringVar(&app.Country, "country", "", "ISO 3166 alpha-2 country code")
	f.StringVar(&app.Currency, "currency", "", "ISO 4217 currency code")
	f.StringVar(&app.Locale, "locale", "", "email language: en or ko (default en)")
	f.StringVar(&app.Policy, "policy", "", "policy name: standard, strict, lenient, demo (default standard)")
	f.Int64Var(&app.Plan.MonthlyFeeMinor, "monthly-fee-minor", 0, "monthly fee in minor units (cents)")
	f.StringVar((*string)(&app.PaymentInstrument.Type), "instrument", "", "card, prepaid_card, stored_value or bank_transfer")
	f.StringVar(&app.PaymentInstrument.CardBIN, "card-bin", "", "card's first 6 to 8 digits")
	f.StringVar(&app.SignupIP, "signup-ip", "", "IP address the customer signed up from")
	return cmd
}

// overlay copies the flags that were given onto the application.
func overlay(cmd *cobra.Command, dst *account.Application, src account.Application) {
	set := cmd.Flags().Changed
	pairs := []struct {
		flag     string
		dst, src *string
	}{
		{"customer-id", &dst.CustomerID, &src.CustomerID}, {"name", &dst.Name, &src.Name},
		{"email", &dst.Email, &src.Email}, {"phone", &dst.Phone, &src.Phone},
		{"country", &dst.Country, &src.Country}, {"currency", &dst.Currency, &src.Currency},
		{"locale", &dst.Locale, &src.Locale}, {"policy", &dst.Policy, &src.Policy},
		{"instrument", (*string)(&dst.PaymentInstrument.Type), (*string)(&src.PaymentInstrument.Type)},
		{"card-bin", &dst.PaymentInstrument.CardBIN, &src.PaymentInstrument.CardBIN},
		{"signup-ip", &dst.SignupIP, &src.SignupIP},
	}
	for _, p := range pairs {
		if set(p.flag) {
			*p.dst = *p.src
		}
	}
	if set("monthly-fee-minor") {
		dst.Plan.MonthlyFeeMinor = src.Plan.MonthlyFeeMinor
	}
}

func readFile(name string) ([]byte, error) {
	if name == "-" {
		var buf bytes.Buffer
		_, err := buf.ReadFrom(os.Stdin)
		return buf.Bytes(), err
	}
	return os.ReadFile(name)
}

func (a *app) payCmd() *cobra.Command {
	var p account.Payment
	cmd := &cobra.Command{
		Use:   "pay CUSTOMER_ID",
		Short: "Record a payment (RecordPayment); the same --payment-id again changes nothing",
		Long: `Record a payment received from the customer. It is applied to open invoices,
oldest due date first; what is left becomes credit. Paying what is overdue ends
the dunning at once and reinstates a suspension for non-payment.

--payment-id is the idempotency key: recording the same payment again is a
no-op, and reusing an ID for a different amount is refused.`,
		Example: `  starter pay acme --payment-id bank-2026-0042 --amount-minor 10000 --currency USD --method bank_transfer`,
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			p.Actor = a.actor
			res, err := update(a, args[0], workflows.UpdateRecordPayment, p)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			return printPayment(a.out, res, p.Currency)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.PaymentID, "payment-id", "", "idempotency key for this payment (required)")
	f.Int64Var(&p.AmountMinor, "amount-minor", 0, "amount in minor units, e.g. cents (required)")
	f.StringVar(&p.Currency, "currency", "", "ISO 4217 currency; must be the account's (required)")
	f.StringVar(&p.Method, "method", "bank_transfer", "bank_transfer, card, direct_debit, cash, check or other")
	f.StringVar(&p.Reference, "reference", "", "the customer's payment reference")
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status CUSTOMER_ID",
		Short: "Show a customer's status, balance, open invoices and next action (GetStatus)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			v, err := a.ops.Status(context.Background(), args[0])
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(v)
			}
			return printStatus(a.out, v)
		},
	}
}

// staffCmd builds suspend, reinstate and terminate.
func (a *app) staffCmd(use, short string, u contract.Update[account.StaffAction, account.StatusView]) *cobra.Command {
	var s account.StaffAction
	cmd := &cobra.Command{
		Use:   use + " CUSTOMER_ID --reason TEXT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s.Actor = a.actor
			return viewUpdate(a, args[0], u, s)
		},
	}
	cmd.Flags().StringVar(&s.Reason, "reason", "", "why, for the audit log (required)")
	cmd.Flags().StringVar(&s.Note, "note", "", "more detail")
	return cmd
}

// viewUpdate runs an update whose result is the account status.
func viewUpdate[Req any](a *app, customerID string, u contract.Update[Req, account.StatusView], req Req) error {
	v, err := update(a, customerID, u, req)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(v)
	}
	return printStatus(a.out, v)
}

func (a *app) suspendCmd() *cobra.Command {
	return a.staffCmd("suspend", "Suspend the customer's subscriptions by hand", workflows.UpdateSuspend)
}

func (a *app) reinstateCmd() *cobra.Command {
	return a.staffCmd("reinstate", "Lift a suspension by hand (not one for misuse: decide its review)", workflows.UpdateReinstate)
}

func (a *app) terminateCmd() *cobra.Command {
	return a.staffCmd("terminate", "Terminate the account; unpaid invoices go to collections", workflows.UpdateTerminate)
}

func (a *app) promiseCmd() *cobra.Command {
	var p account.Promise
	var until string
	cmd := &cobra.Command{
		Use:     "promise CUSTOMER_ID --invoice ID --until TIME",
		Short:   "Pause an invoice's reminders until a promised payment date",
		Long:    "Record a promise to pay. The invoice's ladder pauses until --until; if it is not paid by then it resumes where it was.",
		Example: "  starter promise acme --invoice INV-acme-0002 --until 2026-03-01T00:00:00Z",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			t, err := ops.ParseTime(until)
			if err != nil {
				return usage("--until: %v", err)
			}
			p.Until, p.Actor = t, a.actor
			return viewUpdate(a, args[0], workflows.UpdatePromiseToPay, p)
		},
	}
	cmd.Flags().StringVar(&p.InvoiceID, "invoice", "", "invoice ID (required)")
	cmd.Flags().StringVar(&until, "until", "", "promised payment date, RFC 3339 or YYYY-MM-DD (required)")
	cmd.Flags().StringVar(&p.Note, "note", "", "what was agreed")
	return cmd
}

func (a *app) cardCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "card CUSTOMER_ID PAYMENT_METHOD_ID",
		Short:   "Put a new card on file; what is overdue is charged on it at once",
		Long:    "Save the gateway's payment method (a Stripe pm_..., collected by Stripe's own page: never a card number) as the customer's card on file. Needs STRIPE_API_KEY on the worker.",
		Example: "  starter card acme pm_1QxYzAbCdEfGhIjK",
		Args:    cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return viewUpdate(a, args[0], workflows.UpdateSetPaymentMethod, account.CardUpdate{PaymentMethodID: args[1], Actor: a.actor})
		},
	}
}

func (a *app) disputeCmd() *cobra.Command {
	var d account.Dispute
	cmd := &cobra.Command{
		Use:   "dispute CUSTOMER_ID --invoice ID --reason TEXT",
		Short: "Pause an invoice's reminders while the customer disputes it",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			d.Actor = a.actor
			return viewUpdate(a, args[0], workflows.UpdateDisputeInvoice, d)
		},
	}
	cmd.Flags().StringVar(&d.InvoiceID, "invoice", "", "invoice ID (required)")
	cmd.Flags().StringVar(&d.Reason, "reason", "", "what the customer disputes (required)")
	return cmd
}

func (a *app) resolveCmd() *cobra.Command {
	var r account.Resolution
	cmd := &cobra.Command{
		Use:   "resolve CUSTOMER_ID --invoice ID --outcome upheld|voided|adjusted",
		Short: "Resolve a dispute: the invoice stands, is voided, or is lowered",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			r.Actor = a.actor
			return viewUpdate(a, args[0], workflows.UpdateResolveDispute, r)
		},
	}
	cmd.Flags().StringVar(&r.InvoiceID, "invoice", "", "invoice ID (required)")
	cmd.Flags().StringVar(&r.Outcome, "outcome", "", "upheld, voided or adjusted (required)")
	cmd.Flags().Int64Var(&r.AmountMinor, "amount-minor", 0, "the new amount, for adjusted")
	cmd.Flags().StringVar(&r.Note, "note", "", "how it was resolved")
	return cmd
}

func (a *app) writeOffCmd() *cobra.Command {
	var w account.InvoiceAction
	cmd := &cobra.Command{
		Use:   "write-off CUSTOMER_ID --invoice ID --reason TEXT",
		Short: "Write off an invoice's unpaid amount (no collections)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			w.Actor = a.actor
			return viewUpdate(a, args[0], workflows.UpdateWriteOff, w)
		},
	}
	cmd.Flags().StringVar(&w.InvoiceID, "invoice", "", "invoice ID (required)")
	cmd.Flags().StringVar(&w.Reason, "reason", "", "why (required)")
	return cmd
}

func (a *app) outboxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "outbox CUSTOMER_ID",
		Short: "List the emails sent (or kept) for a customer",
		Long: `List the customer's emails from the outbox table: every intended message, its
dunning_key, status (sent, logged when no SendGrid key is set, pending, failed,
unconfirmed) and subject. Show one with: starter outbox show KEY`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rows, err := a.ops.Emails(context.Background(), args[0])
			if err != nil && !errors.Is(err, ops.ErrNotFound) { // an unknown customer has no emails
				return explain(err)
			}
			if a.json {
				return a.printJSON(rows)
			}
			return printOutbox(a.out, rows)
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show DUNNING_KEY",
		Short: "Show one email as the customer gets it",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			m, err := a.ops.Email(context.Background(), "", args[0])
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(m)
			}
			fmt.Fprintf(a.out, "To:      %s\nSubject: %s\nStatus:  %s (attempts %d)\nKey:     %s\n\n%s", m.ToEmail, m.Subject, m.Status, m.Attempts, m.MessageKey, m.BodyText)
			return nil
		},
	})
	return cmd
}

func (a *app) auditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "audit CUSTOMER_ID",
		Short: "Show the customer's audit log: every change, who made it and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rows, err := a.ops.Audit(context.Background(), args[0])
			if err != nil {
				return explain(err)
			}
			if a.json {
				return a.printJSON(rows)
			}
			return printAudit(a.out, rows)
		},
	}
}

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations (the worker also does this at start)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
			defer cancel()
			v, err := a.ops.Migrate(ctx)
			if err != nil {
				return explain(err)
			}
			fmt.Fprintf(a.out, "database schema at version %d\n", v)
			return nil
		},
	}
}
