package main

import (
	"github.com/spf13/cobra"

	"github.com/example/dunning/account"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

// The risk, misuse and budget updates. Each prints the account status the
// update answers with.

func (a *app) verifyPhoneCmd() *cobra.Command {
	var p account.PhoneCode
	cmd := &cobra.Command{
		Use:   "verify-phone CUSTOMER_ID --code DIGITS",
		Short: "Verify the customer's phone with the code they got by SMS (VerifyPhone)",
		Long: `Check the 6-digit code the customer received by SMS at sign-up. A wrong or
expired code is refused; send a new one with: starter request-code CUSTOMER_ID`,
		Example: "  starter verify-phone acme --code 123456",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return viewUpdate(a, args[0], workflows.UpdateVerifyPhone, p)
		},
	}
	cmd.Flags().StringVar(&p.Code, "code", "", "the 6 digits sent by SMS (required)")
	return cmd
}

func (a *app) requestCodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "request-code CUSTOMER_ID",
		Short: "Send the customer a new phone verification code by SMS (RequestPhoneCode)",
		Long:  "Send a new SMS verification code to the customer's phone, replacing any earlier one.",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return viewUpdate(a, args[0], workflows.UpdateRequestPhoneCode, account.CodeRequest{Actor: a.actor})
		},
	}
}

func (a *app) reportAbuseCmd() *cobra.Command {
	var r account.AbuseReport
	var deadline string
	cmd := &cobra.Command{
		Use:   "report-abuse CUSTOMER_ID --notice-id ID --category CATEGORY --detail TEXT",
		Short: "Report misuse of the service: a complaint, a provider notice or a monitoring hit (ReportAbuse)",
		Long: `Report suspected or confirmed misuse. The workflow weighs the category and
severity under the customer's risk policy, and may suspend the customer and
open a review that staff decide with: starter review CUSTOMER_ID

--notice-id is the idempotency key (the provider's notice number, a ticket
number): reporting it again changes nothing. Categories are spam, hacking, ddos,
crypto_mining, malware, piracy_resale and other; sources are provider,
monitoring, complaint and staff. --deadline is the provider's own response
deadline, when it is earlier than the policy's.`,
		Example: `  starter report-abuse acme --notice-id AWS-2026-118 --category spam --source provider \
    --detail "outbound spam from 203.0.113.9" --deadline 2026-03-02T12:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if deadline != "" {
				t, err := ops.ParseTime(deadline)
				if err != nil {
					return usage("--deadline: %v", err)
				}
				r.Deadline = t
			}
			r.Actor = a.actor
			return viewUpdate(a, args[0], workflows.UpdateReportAbuse, r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.NoticeID, "notice-id", "", "idempotency key, e.g. the provider's notice number (required)")
	f.StringVar(&r.Category, "category", "", "spam, hacking, ddos, crypto_mining, malware, piracy_resale or other (required)")
	f.StringVar(&r.Source, "source", "staff", "provider, monitoring, complaint or staff")
	f.StringVar(&r.Detail, "detail", "", "what was seen (required)")
	f.StringVar((*string)(&r.Severity), "severity", "", "severe, moderate or minor (default: the category's)")
	f.StringVar(&deadline, "deadline", "", "response deadline, RFC 3339 or YYYY-MM-DD")
	return cmd
}

func (a *app) reviewCmd() *cobra.Command {
	var d account.Decision
	cmd := &cobra.Command{
		Use:   "review CUSTOMER_ID --decision approve|reject|reinstate|terminate --note TEXT",
		Short: "Decide an open manual review (ReviewDecision)",
		Long: `Decide a manual review. Onboarding reviews take approve (with prepayment, as
screening said) or reject; misuse reviews take reinstate (no misuse found) or
terminate (misuse confirmed). --review-id picks the review when more than one
is open; without it the only open review is decided.`,
		Example: `  starter review acme --decision approve --note "ID documents checked"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			d.Actor = a.actor
			return viewUpdate(a, args[0], workflows.UpdateReviewDecision, d)
		},
	}
	f := cmd.Flags()
	f.StringVar(&d.Decision, "decision", "", "approve, reject, reinstate or terminate (required)")
	f.StringVar(&d.ReviewID, "review-id", "", "the review to decide (default: the only open one)")
	f.StringVar(&d.Note, "note", "", "why, for the audit log")
	return cmd
}

func (a *app) budgetCmd() *cobra.Command {
	var b account.Budget
	cmd := &cobra.Command{
		Use:   "budget CUSTOMER_ID --limit-minor AMOUNT [--notice-percents 50,80,100] [--hard-stop]",
		Short: "Set the customer's monthly spending budget on usage (SetBudget)",
		Long: `Set a monthly limit on the customer's usage charges. The customer is emailed as
spend passes each of --notice-percents of the limit (default 80 and 100); with
--hard-stop the customer is suspended when spend reaches the limit. A limit of
0 removes the budget.`,
		Example: "  starter budget acme --limit-minor 50000 --notice-percents 50,80,100 --hard-stop",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			b.Actor = a.actor
			return viewUpdate(a, args[0], workflows.UpdateSetBudget, b)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&b.LimitMinor, "limit-minor", 0, "monthly limit in minor units, e.g. cents; 0 removes the budget")
	f.IntSliceVar(&b.NoticePercents, "notice-percents", nil, "rising percentages of the limit to notify at, e.g. 50,80,100")
	f.BoolVar(&b.HardStop, "hard-stop", false, "suspend when usage reaches the limit")
	return cmd
}

func (a *app) usageCmd() *cobra.Command {
	var u account.Usage
	cmd := &cobra.Command{
		Use:   "usage CUSTOMER_ID --usage-id ID --amount-minor AMOUNT",
		Short: "Report metered usage to bill on the next invoice (ReportUsage)",
		Long: `Report usage charges in the account's currency. They are billed on the next
invoice and count against the budget. --usage-id is the idempotency key:
reporting the same usage again changes nothing.`,
		Example: `  starter usage acme --usage-id acme-2026-02-compute --amount-minor 1250 --description "compute, February"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return viewUpdate(a, args[0], workflows.UpdateReportUsage, u)
		},
	}
	f := cmd.Flags()
	f.StringVar(&u.UsageID, "usage-id", "", "idempotency key for this usage (required)")
	f.Int64Var(&u.AmountMinor, "amount-minor", 0, "amount in minor units, e.g. cents (required)")
	f.StringVar(&u.Description, "description", "", "what the usage was")
	return cmd
}
