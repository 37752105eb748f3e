package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/sendgridfake"
	"github.com/example/dunning/service"
	"github.com/example/dunning/store"
)

// eventsBetween counts history events of all runs with from <= time < to.
func eventsBetween(runs []*historypb.History, from, to time.Time) int {
	n := 0
	for _, h := range runs {
		for _, ev := range h.Events {
			t := ev.EventTime.AsTime()
			if !t.Before(from) && t.Before(to) {
				n++
			}
		}
	}
	return n
}

// eventTypesBetween breaks eventsBetween down by event type, plus the
// markers by name and the timers by summary, so a benchmark shows which
// events are left.
func eventTypesBetween(runs []*historypb.History, from, to time.Time) map[string]int {
	out := map[string]int{}
	for _, h := range runs {
		for _, ev := range h.Events {
			t := ev.EventTime.AsTime()
			if t.Before(from) || !t.Before(to) {
				continue
			}
			name := strings.TrimPrefix(ev.EventType.String(), "EVENT_TYPE_")
			if m := ev.GetMarkerRecordedEventAttributes(); m != nil {
				name += " " + m.MarkerName
				if id, ok := m.Details["change-id"]; ok && len(id.Payloads) > 0 {
					name += " " + string(id.Payloads[0].Data)
				}
			}
			out[name]++
		}
	}
	return out
}

// printBreakdown prints a per-event-type count, largest first.
func printBreakdown(title string, counts map[string]int, per float64) {
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	fmt.Printf("%s:\n", title)
	for _, k := range names {
		fmt.Printf("  %6.1f  %s\n", float64(counts[k])/per, k)
	}
}

// issueTimes lists when the customer's subscription invoices were issued.
func issueTimes(b *testing.B, id string) []time.Time {
	invs, err := env.store.InvoicesOf(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	var out []time.Time
	for _, inv := range invs {
		if inv.Kind == "subscription" {
			out = append(out, inv.IssuedAt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// BenchmarkHistoryEventsPerCustomerMonth measures how many workflow history
// events a customer costs per billing month on the standard policy (the e2e
// policy is standard with a day of half a second: the same steps, so the
// same events). It prints
//   - events/on-time-month: a month in which the invoice is paid the day it
//     arrives (averaged over months 2-4, onboarding excluded);
//   - events/ladder-month: from an invoice's issue through every reminder,
//     suspension, payment and reinstatement (this spans the next month's
//     invoice and one continue-as-new, which happen anyway).
//
// go test ./e2e -run '^$' -bench HistoryEvents -benchtime 1x
func BenchmarkHistoryEventsPerCustomerMonth(b *testing.B) {
	t := &testing.T{}
	for i := 0; i < b.N; i++ {
		ontime, ladder := fmt.Sprintf("bench-ontime-%d", i), fmt.Sprintf("bench-ladder-%d", i)
		done := make(chan float64, 2)
		go func() { // a: pays every invoice as soon as it is issued
			onboardActive(t, application(ontime, "e2e"))
			paid := map[string]bool{}
			for len(issueTimes(b, ontime)) < 5 {
				v, err := tryStatus(ontime)
				for _, inv := range v.Invoices {
					if err == nil && !paid[inv.ID] && inv.Kind == account.KindSubscription {
						paid[inv.ID] = true
						_, _ = recordPayment(ontime, account.Payment{PaymentID: "p-" + inv.ID, AmountMinor: inv.OutstandingMinor, Currency: "USD", Method: "card"})
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			issued := issueTimes(b, ontime)
			runs := histories(t, ontime)
			printBreakdown("on-time month, per month", eventTypesBetween(runs, issued[1], issued[4]), 3)
			done <- float64(eventsBetween(runs, issued[1], issued[4])) / 3
		}()
		go func() { // b: lets the first invoice reach suspension, then pays
			onboardActive(t, application(ladder, "e2e"))
			inv := fmt.Sprintf("INV-%s-0002", ladder)
			var v account.StatusView
			for {
				v, _ = tryStatus(ladder)
				if v.Status == account.StatusSuspended {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if _, err := recordPayment(ladder, account.Payment{PaymentID: "late", AmountMinor: v.OverdueMinor, Currency: "USD", Method: "card"}); err != nil {
				b.Error(err)
			}
			time.Sleep(2 * time.Second) // the reinstatement's provisioning and email
			invs, _ := env.store.InvoicesOf(context.Background(), ladder)
			var issued time.Time
			for _, x := range invs {
				if x.InvoiceID == inv {
					issued = x.IssuedAt
				}
			}
			runs, end := histories(t, ladder), time.Now()
			printBreakdown("ladder month", eventTypesBetween(runs, issued, end), 1)
			done <- float64(eventsBetween(runs, issued, end))
		}()
		a, l := <-done, <-done
		if a > l {
			a, l = l, a
		}
		b.ReportMetric(a, "events/on-time-month")
		b.ReportMetric(l, "events/ladder-month")
	}
}

// benchFanout sends n notices at once through the SendNotice activity, as
// the lifecycle workflows do, so that the worker's activity concurrency is
// what limits the rate.
func benchFanout(ctx workflow.Context, customerID string, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 1.5, MaximumInterval: 5 * time.Second},
	})
	var acts *activities.Activities
	futures := make([]workflow.Future, n)
	for i := range n {
		futures[i] = workflow.ExecuteActivity(ctx, acts.SendNotice, activities.NoticeInput{
			Recipient: activities.Recipient{CustomerID: customerID, Name: "Bench Ltd", Email: "bench@customers.test", Locale: "en"},
			Notice: account.Notice{Key: fmt.Sprintf("%s:bench:%d", customerID, i), Template: "upcoming", Stage: "upcoming",
				InvoiceID: "INV-bench", AmountMinor: 10000, Currency: "USD", DueAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Reference: "INV-bench"},
		})
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkSendThroughput measures mails per second from a worker's
// SendNotice activities to the fake SendGrid, with the worker's default
// activity concurrency, without and with rate limiting (every 10th request
// answered 429 with a reset one second away).
//
// go test ./e2e -run '^$' -bench SendThroughput -benchtime 1x
func BenchmarkSendThroughput(b *testing.B) {
	const mails = 500
	for _, tc := range []struct {
		name      string
		every429s int
	}{{"no-429", 0}, {"429-every-10th", 10}} {
		b.Run(tc.name, func(b *testing.B) {
			fake := sendgridfake.NewServer(sendgridKey)
			defer fake.Close()
			if tc.every429s > 0 {
				var faults []sendgridfake.Fault
				for i := 0; i < mails; i++ {
					f := sendgridfake.Fault{}
					if i%tc.every429s == tc.every429s-1 {
						f = sendgridfake.Fault{Status: 429, ResetAfter: time.Second}
					}
					faults = append(faults, f)
				}
				fake.Inject(faults...)
			}
			queue := "bench-mail-" + tc.name
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			c, err := client.Dial(client.Options{HostPort: env.temporalAddr, Logger: tlog.NewStructuredLogger(quiet)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			w := worker.New(c, queue, service.WorkerOptions())
			w.RegisterWorkflow(benchFanout)
			w.RegisterActivity(&activities.Activities{Store: env.store, Logger: quiet, StaffEmail: "staff@customers.test", StaffLocale: "en",
				Mailer: &mail.SendGrid{APIKey: sendgridKey, Host: fake.URL(), From: "billing@dunning.test"}})
			if err := w.Start(); err != nil {
				b.Fatal(err)
			}
			defer w.Stop()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("bench-mail-%s-%d-%d", tc.name, i, time.Now().UnixNano())
				if _, err := env.db.Exec(`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
					monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
					VALUES ($1, 'Bench Ltd', 'bench@customers.test', '+14155550100', 'US', 'USD', 'en', 'e2e.v1', 100, 'card',
					'192.0.2.1', 'active', 'limited', now(), now())`, id); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: queue}, benchFanout, id, mails)
				if err != nil {
					b.Fatal(err)
				}
				if err := run.Get(context.Background(), nil); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				var sent int
				_ = env.db.Get(&sent, `SELECT count(*) FROM email_outbox WHERE customer_id = $1 AND status = $2`, id, store.OutboxSent)
				if sent != mails {
					b.Fatalf("%d of %d mails sent", sent, mails)
				}
				b.ReportMetric(float64(mails)/elapsed.Seconds(), "mails/s")
			}
		})
	}
}
