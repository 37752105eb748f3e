package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

// MonthResult is the history one customer-month of the product costs.
type MonthResult struct {
	Scenario string
	Months   int       // months the count spans
	Total    int       // events in them
	Counted  Breakdown // what they did
	Actions  int       // Temporal Cloud billable actions in them (Actions)
}

// ActionsPerMonth is the billable actions per month.
func (m MonthResult) ActionsPerMonth() float64 { return float64(m.Actions) / float64(m.Months) }

// Events is the events per month.
func (m MonthResult) Events() float64 { return float64(m.Total) / float64(m.Months) }

// Minimum is the justified minimum per month.
func (m MonthResult) Minimum() float64 { return float64(m.Counted.Minimum()) / float64(m.Months) }

// allRuns reads every run of the customer's workflow, oldest first.
func (e *benchEnv) allRuns(ctx context.Context, id string) ([][]*historypb.HistoryEvent, error) {
	res, err := e.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = %q", workflows.WorkflowID(id))})
	if err != nil {
		return nil, err
	}
	var out [][]*historypb.HistoryEvent
	for i := len(res.Executions) - 1; i >= 0; i-- { // visibility lists newest first
		h, err := e.history(ctx, res.Executions[i].Execution.WorkflowId, res.Executions[i].Execution.RunId)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func (e *benchEnv) issued(ctx context.Context, st *store.Store, id string) ([]time.Time, error) {
	invs, err := st.InvoicesOf(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, inv := range invs {
		if inv.Kind == string(account.KindSubscription) {
			out = append(out, inv.IssuedAt)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, nil
}

func (e *benchEnv) status(ctx context.Context, id string) (account.StatusView, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return contract.Ask(ctx, e.c, workflows.QueryGetStatus, workflows.WorkflowID(id), "")
}

// onboardPaid starts the customer on the month policy and pays the
// prepayment once it is asked for.
func (e *benchEnv) onboardPaid(ctx context.Context, queue, id string, i int) error {
	run, err := e.start(ctx, KindProduct, queue, id, "benchmonth", i)
	if err != nil {
		return err
	}
	if _, err := e.waitNotice(ctx, run.GetID(), run.GetRunID(), "prepayment_request"); err != nil {
		return err
	}
	return e.pay(ctx, run.GetID(), account.Payment{PaymentID: id + "-prepay", AmountMinor: benchFeeMinor, Currency: "USD", Method: "bank_transfer"})
}

// months measures the product's events per customer-month as
// e2e.BenchmarkHistoryEventsPerCustomerMonth does, on the same policy:
// a customer who pays each invoice as soon as it is issued (months 2-4
// averaged, onboarding excluded), and one whose first invoice goes up the
// ladder to suspension before payment and reinstatement (from its issue
// until the reinstatement's effects are done, which spans the next
// invoice and a continue-as-new, as they happen anyway).
func (e *benchEnv) months(ctx context.Context, log io.Writer) ([]MonthResult, error) {
	const queue = "bench-month"
	ch, err := startChild(ctx, e, KindProduct, queue, 100)
	if err != nil {
		return nil, err
	}
	defer ch.stop()
	db, err := sqlx.Open("postgres", e.dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st := store.New(db)
	fmt.Fprintln(log, "months: one customer paying on time for four months, one up the ladder to suspension (about 70 s)")
	out := make([]MonthResult, 2)
	err = forEach(ctx, 2, 2, func(ctx context.Context, i int) error {
		if i == 0 {
			id := "m-ontime"
			if err := e.onboardPaid(ctx, queue, id, 900000); err != nil {
				return err
			}
			paid := map[string]bool{}
			for {
				issued, err := e.issued(ctx, st, id)
				if err != nil {
					return err
				}
				if len(issued) >= 5 {
					runs, err := e.allRuns(ctx, id)
					if err != nil {
						return err
					}
					month := Between(runs, issued[1], issued[4])
					total, b := Classify(month)
					out[0] = MonthResult{Scenario: "on-time month", Months: 3, Total: total, Counted: b, Actions: Actions(month)}
					return nil
				}
				v, err := e.status(ctx, id)
				if err != nil {
					return err
				}
				for _, inv := range v.Invoices {
					if !paid[inv.ID] && inv.Kind == account.KindSubscription {
						paid[inv.ID] = true
						if err := e.pay(ctx, workflows.WorkflowID(id), account.Payment{PaymentID: "p-" + inv.ID, AmountMinor: inv.OutstandingMinor, Currency: "USD", Method: "card"}); err != nil {
							return err
						}
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		id := "m-ladder"
		if err := e.onboardPaid(ctx, queue, id, 900001); err != nil {
			return err
		}
		var v account.StatusView
		for v.Status != account.StatusSuspended {
			time.Sleep(200 * time.Millisecond)
			if v, err = e.status(ctx, id); err != nil {
				return err
			}
		}
		if err := e.pay(ctx, workflows.WorkflowID(id), account.Payment{PaymentID: "late", AmountMinor: v.OverdueMinor, Currency: "USD", Method: "card"}); err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // the reinstatement's provisioning and email
		issued, err := e.issued(ctx, st, id)
		if err != nil || len(issued) == 0 {
			return fmt.Errorf("ladder customer's invoices: %v (%d)", err, len(issued))
		}
		runs, err := e.allRuns(ctx, id)
		if err != nil {
			return err
		}
		month := Between(runs, issued[0], time.Now())
		total, b := Classify(month)
		out[1] = MonthResult{Scenario: "full-ladder month", Months: 1, Total: total, Counted: b, Actions: Actions(month)}
		return nil
	})
	return out, err
}
