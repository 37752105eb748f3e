package console

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/money"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/workflows"
)

// ActionName names a staff action: its form, its URL segment
// (POST /console/customers/{id}/{action}) and its messages.
type ActionName string

// The staff actions on a customer.
const (
	ActPayment   ActionName = "payment"
	ActPromise   ActionName = "promise"
	ActDispute   ActionName = "dispute"
	ActResolve   ActionName = "resolve"
	ActSuspend   ActionName = "suspend"
	ActReinstate ActionName = "reinstate"
	ActTerminate ActionName = "terminate"
	ActWriteOff  ActionName = "writeoff"
	ActReview    ActionName = "review"
	ActBudget    ActionName = "budget"
	ActPolicy    ActionName = "policy"
	// Subscriptions and exemptions.
	ActAddSubscription ActionName = "subscription"
	ActQuantity        ActionName = "quantity"
	ActCancel          ActionName = "cancel"
	ActExempt          ActionName = "exempt"
	ActUnexempt        ActionName = "unexempt"
)

// actionFunc reads an action's form into its update's request, with the
// session's actor, and runs it. v is the customer's status as the form
// was posted (for the account's currency).
type actionFunc func(ctx context.Context, up contract.Updater, customerID, actor string, f url.Values, v account.StatusView) error

// actions are the staff actions by name. Each runs the same update, with
// the same validation, as the API's route for it.
var actions = map[ActionName]actionFunc{
	ActPayment: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, v account.StatusView) error {
		cur := strings.ToUpper(strings.TrimSpace(f.Get("currency")))
		amount, err := amountField(f, "amount", cur)
		if err != nil {
			return err
		}
		p := account.Payment{PaymentID: f.Get("payment_id"), AmountMinor: amount, Currency: cur, Method: f.Get("method"), Reference: f.Get("reference"), Actor: actor}
		if err := p.Validate(); err != nil {
			return ops.Invalid(err)
		}
		res, err := contract.Run(ctx, up, workflows.UpdateRecordPayment, id, p)
		if err == nil && res != nil && res.Duplicate {
			return errAlreadyRecorded
		}
		return err
	},
	ActPromise: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		until, err := ops.ParseTime(strings.TrimSpace(f.Get("until")))
		if err != nil {
			return ops.Invalid(fmt.Errorf("until: %w", err))
		}
		return run(ctx, up, workflows.UpdatePromiseToPay, id, account.Promise{InvoiceID: f.Get("invoice_id"), Until: until, Actor: actor, Note: f.Get("note")})
	},
	ActDispute: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, workflows.UpdateDisputeInvoice, id, account.Dispute{InvoiceID: f.Get("invoice_id"), Reason: f.Get("reason"), Actor: actor})
	},
	ActResolve: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, v account.StatusView) error {
		res := account.Resolution{InvoiceID: f.Get("invoice_id"), Outcome: f.Get("outcome"), Actor: actor, Note: f.Get("note")}
		if strings.TrimSpace(f.Get("amount")) != "" {
			var err error
			if res.AmountMinor, err = amountField(f, "amount", v.Currency); err != nil {
				return err
			}
		}
		return run(ctx, up, workflows.UpdateResolveDispute, id, res)
	},
	ActPolicy: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, workflows.UpdateChangePolicy, id, account.PolicyChange{To: strings.TrimSpace(f.Get("to")), Actor: actor, Reason: f.Get("reason")})
	},
	ActSuspend:   staffAction(workflows.UpdateSuspend),
	ActReinstate: staffAction(workflows.UpdateReinstate),
	ActTerminate: staffAction(workflows.UpdateTerminate),
	ActWriteOff: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, workflows.UpdateWriteOff, id, account.InvoiceAction{InvoiceID: f.Get("invoice_id"), Reason: f.Get("reason"), Actor: actor})
	},
	ActReview: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, workflows.UpdateReviewDecision, id, account.Decision{ReviewID: f.Get("review_id"), Decision: f.Get("decision"), Actor: actor, Note: f.Get("note")})
	},
	ActBudget: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, v account.StatusView) error {
		b := account.Budget{HardStop: f.Get("hard_stop") == "on", Actor: actor}
		if strings.TrimSpace(f.Get("limit")) != "" {
			var err error
			if b.LimitMinor, err = amountField(f, "limit", v.Currency); err != nil {
				return err
			}
		}
		for p := range strings.SplitSeq(f.Get("notice_percents"), ",") {
			if p = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "%")); p == "" {
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil {
				return ops.Invalid(fmt.Errorf("notice_percents: %q is not a whole number of percent", p))
			}
			b.NoticePercents = append(b.NoticePercents, n)
		}
		return run(ctx, up, workflows.UpdateSetBudget, id, b)
	},
	ActAddSubscription: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, v account.StatusView) error {
		price, err := amountField(f, "unit_price", v.Currency)
		if err != nil {
			return err
		}
		s := account.SubscriptionSpec{SubscriptionID: f.Get("subscription_id"), Product: f.Get("product"), UnitPriceMinor: price, Actor: actor}
		if s.Quantity, err = intField(f, "quantity"); err != nil {
			return err
		}
		if strings.TrimSpace(f.Get("interval_periods")) != "" {
			if s.IntervalPeriods, err = intField(f, "interval_periods"); err != nil {
				return err
			}
		}
		return run(ctx, up, workflows.UpdateAddSubscription, id, s)
	},
	ActQuantity: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		n, err := intField(f, "quantity")
		if err != nil {
			return err
		}
		return run(ctx, up, workflows.UpdateChangeQuantity, id, account.QuantityChange{SubscriptionID: f.Get("subscription_id"), Quantity: n,
			Reason: f.Get("reason"), Actor: actor})
	},
	ActCancel: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, workflows.UpdateCancelSubscription, id, account.Cancellation{SubscriptionID: f.Get("subscription_id"), When: f.Get("when"),
			Reason: f.Get("reason"), Actor: actor})
	},
	ActExempt: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		r := account.ExemptionRequest{Exemption: account.Exemption(f.Get("exemption")), Reason: f.Get("reason"), Actor: actor}
		if u := strings.TrimSpace(f.Get("until")); u != "" {
			t, err := ops.ParseTime(u)
			if err != nil {
				return ops.Invalid(fmt.Errorf("until: %w", err))
			}
			r.Until = t
		}
		return run(ctx, up, workflows.UpdateSetExemption, id, r)
	},
	ActUnexempt: func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, workflows.UpdateRemoveExemption, id, account.ExemptionRemoval{Exemption: account.Exemption(f.Get("exemption")),
			Reason: f.Get("reason"), Actor: actor})
	},
}

// intField reads a whole number from a form.
func intField(f url.Values, field string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(f.Get(field)))
	if err != nil {
		return 0, ops.Invalid(fmt.Errorf("%s: %q is not a whole number", field, f.Get(field)))
	}
	return n, nil
}

// errAlreadyRecorded is a payment form posted again (back and submit): the
// workflow knew its payment ID and changed nothing. Not a failure.
var errAlreadyRecorded = errors.New("payment already recorded")

// actionNames are the actions in the order the customer page shows them.
var actionNames = []ActionName{ActPayment, ActPromise, ActDispute, ActResolve, ActWriteOff, ActReview, ActSuspend, ActReinstate, ActTerminate, ActPolicy, ActBudget,
	ActAddSubscription, ActQuantity, ActCancel, ActExempt, ActUnexempt}

func staffAction(u contract.Update[account.StaffAction, account.StatusView]) actionFunc {
	return func(ctx context.Context, up contract.Updater, id, actor string, f url.Values, _ account.StatusView) error {
		return run(ctx, up, u, id, account.StaffAction{Actor: actor, Reason: f.Get("reason"), Note: f.Get("note")})
	}
}

// run validates the request as the API does, then runs the update.
func run[Req, Res any](ctx context.Context, up contract.Updater, u contract.Update[Req, Res], customerID string, req Req) error {
	if v, ok := any(req).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return ops.Invalid(err)
		}
	}
	_, err := contract.Run(ctx, up, u, customerID, req)
	return err
}

// amountField reads an amount typed in the currency's major unit.
func amountField(f url.Values, field, currency string) (int64, error) {
	minor, err := money.ParseDecimal(f.Get(field), currency)
	if err != nil {
		return 0, ops.Invalid(fmt.Errorf("%s: %w", field, err))
	}
	return minor, nil
}

// paymentMethods are the methods the payment form offers (the validator's
// list).
var paymentMethods = []string{"bank_transfer", "card", "cash", "check", "direct_debit", "other"}

func knownAction(name string) (ActionName, bool) {
	a := ActionName(name)
	return a, slices.Contains(actionNames, a)
}
