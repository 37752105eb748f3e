package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/gateway"
	"github.com/example/dunning/gateway/stripefake"
	"github.com/example/dunning/money"
	"github.com/example/dunning/workflows"
)

// persona is how a simulated customer behaves.
type persona struct {
	id, name, country, currency, locale string
	email                               string // default billing@<id>.example (a business domain)
	instrument                          account.PaymentInstrument
	fee                                 int64
	about                               string
	prepay                              bool // pays a prepayment when asked
	// act looks at the status and does what this customer would do now.
	act func(s *simulator, v account.StatusView) error
}

func personas() []persona {
	return []persona{
		{id: "prompt", name: "Prompt Payments Ltd", country: "US", currency: "USD", locale: "en", fee: 12000, prepay: true,
			about: "pays every invoice the moment it arrives",
			act: func(s *simulator, v account.StatusView) error {
				return s.payOpen(v, func(account.InvoiceView) bool { return true })
			}},
		{id: "late", name: "Late Larry GmbH", country: "DE", currency: "EUR", locale: "en", fee: 9900, prepay: true,
			about: "pays once the second overdue notice arrives",
			act: func(s *simulator, v account.StatusView) error {
				return s.payOpen(v, func(inv account.InvoiceView) bool { return inv.Stage == "overdue_2" })
			}},
		{id: "never", name: "Nevermore Inc", country: "US", currency: "USD", locale: "en", fee: 15000, prepay: true,
			about: "never pays: suspended, then terminated and handed to collections",
			act:   func(*simulator, account.StatusView) error { return nil }},
		{id: "comeback", name: "주식회사 컴백", country: "KR", currency: "KRW", locale: "ko", fee: 150000, prepay: true,
			about: "pays only after being suspended, and is reinstated",
			act: func(s *simulator, v account.StatusView) error {
				if v.Status != account.StatusSuspended {
					return nil
				}
				return s.payOpen(v, func(account.InvoiceView) bool { return true })
			}},
		{id: "promise", name: "Promise Keepers LLC", country: "GB", currency: "GBP", locale: "en", fee: 8000, prepay: true,
			about: "promises to pay at the first overdue notice, and keeps the promise",
			act: func(s *simulator, v account.StatusView) error {
				for _, inv := range v.Invoices {
					switch {
					case inv.Stage == "overdue_1" && inv.PromiseUntil.IsZero() && !s.done(v.CustomerID+inv.ID+"promise"):
						s.mark(v.CustomerID + inv.ID + "promise")
						return update(s, v.CustomerID, workflows.UpdatePromiseToPay, account.Promise{
							InvoiceID: inv.ID, Until: time.Now().Add(20 * time.Second), Actor: "demo-staff", Note: "customer called: pays in 10 days"})
					case !inv.PromiseUntil.IsZero() && time.Until(inv.PromiseUntil) < 8*time.Second:
						return s.payOpen(v, func(x account.InvoiceView) bool { return x.ID == inv.ID })
					}
				}
				return nil
			}},
		{id: "disputer", name: "Disputatious SA", country: "FR", currency: "EUR", locale: "en", fee: 11000, prepay: true,
			about: "disputes an invoice; staff uphold it after a while; then pays",
			act: func(s *simulator, v account.StatusView) error {
				for _, inv := range v.Invoices {
					key := v.CustomerID + inv.ID
					switch {
					case inv.Stage == "due" && !inv.Disputed && !s.done(key+"dispute"):
						s.mark(key + "dispute")
						s.markAt(key+"resolve", time.Now().Add(20*time.Second))
						return update(s, v.CustomerID, workflows.UpdateDisputeInvoice, account.Dispute{InvoiceID: inv.ID, Reason: "says the service was down", Actor: "demo-staff"})
					case inv.Disputed && s.due(key+"resolve"):
						s.mark(key + "resolve")
						return update(s, v.CustomerID, workflows.UpdateResolveDispute, account.Resolution{InvoiceID: inv.ID, Outcome: account.OutcomeUpheld, Actor: "demo-staff", Note: "logs show the service was up"})
					case !inv.Disputed && s.done(key+"resolve"):
						return s.payOpen(v, func(x account.InvoiceView) bool { return x.ID == inv.ID })
					}
				}
				return nil
			}},
		{id: "ghost", name: "Ghost Applicant Co", country: "MX", currency: "USD", locale: "en", fee: 5000, prepay: false,
			email: "ghost.applicant@gmail.com",
			about: "medium risk, asked for a prepayment it never sends: the application is cancelled",
			act:   func(*simulator, account.StatusView) error { return nil }},
		{id: "prepaid", name: "Gift Card Gary", country: "US", currency: "USD", locale: "en", fee: 5000,
			instrument: account.PaymentInstrument{Type: account.InstrumentPrepaidCard, CardBIN: "411111"},
			about:      "pays with a prepaid card: refused at screening",
			act:        func(*simulator, account.StatusView) error { return nil }},
		{id: "review", name: "Riskier Trading Ltd", country: "NG", currency: "USD", locale: "en", fee: 7000, prepay: true,
			email: "riskier.trading@yahoo.com",
			about: "high risk: staff review and approve it, then it prepays and pays on time",
			act: func(s *simulator, v account.StatusView) error {
				if v.Status == account.StatusManualReview && len(v.Reviews) > 0 && time.Since(v.Reviews[0].OpenedAt) > 8*time.Second {
					return update(s, v.CustomerID, workflows.UpdateReviewDecision, account.Decision{
						Decision: account.DecisionApprove, Actor: "demo-staff", Note: "company registration checked"})
				}
				return s.payOpen(v, func(account.InvoiceView) bool { return true })
			}},

		// Card payers, charged on the due date through the fake Stripe (the
		// demo.v2 policy retries 0, 3, 6, 10 and 15 days after it).
		{id: "softcard", name: "Softdecline Supplies Inc", country: "US", currency: "USD", locale: "en", fee: 6500,
			instrument: card(stripefake.PMDemoSoftDeclineOnce),
			about:      "card declined for insufficient funds on the due date, charged on the retry 3 days later",
			act:        func(*simulator, account.StatusView) error { return nil }},
		{id: "expiring", name: "Expiring Card Corp", country: "US", currency: "USD", locale: "en", fee: 7500,
			instrument: card(stripefake.PMDemoExpiring),
			about:      "card expired: not retried; 3 days after the decline the customer puts a new card on file, charged at once",
			act:        (*simulator).replaceExpiredCard},
		{id: "stolen", name: "Stolen Goods Trading LLC", country: "US", currency: "USD", locale: "en", fee: 8500,
			instrument: card(stripefake.PMStolenCard),
			about:      "card reported stolen: never retried, suspended for misuse with a fraud review",
			act:        func(*simulator, account.StatusView) error { return nil }},
		{id: "chargeback", name: "Chargeback Charlie Ltd", country: "US", currency: "USD", locale: "en", fee: 9500,
			instrument: card(stripefake.PMVisa),
			about:      "card charged on time; 4 days later the bank disputes the charge, 5 days on the dispute is lost",
			act:        (*simulator).chargeBack},
		{id: "paylink", name: "Paylink Patricia BV", country: "US", currency: "USD", locale: "en", fee: 5500,
			about: "pays by bank card on the pay-now page of its overdue notice",
			act:   (*simulator).payOnHostedPage},
	}
}

// card is an application's card, saved at the gateway as paymentMethodID.
// The BIN is the one Stripe's test cards share: screening sees a card.
func card(paymentMethodID string) account.PaymentInstrument {
	return account.PaymentInstrument{Type: account.InstrumentCard, CardBIN: "424242", PaymentMethodID: paymentMethodID}
}

// How long the card customers take, in demo days of 2 s.
const (
	demoDay        = 2 * time.Second
	newCardAfter   = 3 * demoDay // the expired card's replacement, after its first decline
	disputeAfter   = 4 * demoDay // the chargeback, after the charge succeeded
	disputeLostIn  = 5 * demoDay // the chargeback's end, after it opened
	chargebackWhy  = "fraudulent"
	replacementPM  = stripefake.PMVisa
	customerActor  = "demo-customer"
	hostedPagePM   = stripefake.PMVisa
	payOnPageStage = "overdue_1"
)

// replaceExpiredCard: once a charge was declined (the card is blocked, or an
// invoice has attempts and is still owed), the customer enters a new card a
// few days later; the workflow charges what is overdue at once.
func (s *simulator) replaceExpiredCard(v account.StatusView) error {
	key := v.CustomerID + "newcard"
	declined := v.Card != nil && v.Card.Blocked != ""
	for _, inv := range v.Invoices {
		declined = declined || (inv.ChargeAttempts > 0 && inv.OutstandingMinor > 0)
	}
	switch {
	case s.done(key + "set"):
		return nil
	case !s.done(key) && declined:
		s.markAt(key, time.Now().Add(newCardAfter))
		say("%s: card declined; the customer enters a new card in %s", v.CustomerID, newCardAfter)
	case s.due(key):
		s.mark(key + "set")
		say("%s: the customer puts %s on file (SetPaymentMethod)", v.CustomerID, replacementPM)
		return update(s, v.CustomerID, workflows.UpdateSetPaymentMethod, account.CardUpdate{
			PaymentMethodID: replacementPM, Source: account.CardFromStaff, Actor: customerActor})
	}
	return nil
}

// chargeBack: the customer's first successful card charge is disputed by
// its bank a few days later, and the dispute is lost a few days after that.
// Both go to the worker as the fake's signed webhooks.
func (s *simulator) chargeBack(v account.StatusView) error {
	key := v.CustomerID + "chargeback"
	switch {
	case s.done(key + "closed"):
	case s.note(key+"dispute") != "":
		if s.due(key + "close") {
			s.mark(key + "closed")
			say("%s: the bank decides dispute %s for the cardholder (lost)", v.CustomerID, s.note(key+"dispute"))
			return s.stripe.CloseDispute(s.note(key+"dispute"), false)
		}
	case s.note(key+"pi") == "":
		for _, pi := range s.stripe.PaymentIntents() {
			if pi.Metadata[gateway.MetaCustomerID] == v.CustomerID && pi.Status == "succeeded" {
				s.setNote(key+"pi", pi.ID)
				s.markAt(key+"open", time.Now().Add(disputeAfter))
				break
			}
		}
	case s.due(key + "open"):
		pi := s.note(key + "pi")
		dp := s.stripe.CreateDispute(pi, chargebackWhy)
		if dp == "" {
			return fmt.Errorf("no dispute could be opened on %s", pi)
		}
		s.setNote(key+"dispute", dp)
		s.markAt(key+"close", time.Now().Add(disputeLostIn))
		say("%s: the bank disputes charge %s (%s, %s)", v.CustomerID, pi, dp, chargebackWhy)
	}
	return nil
}

// payOnHostedPage: a bank-transfer customer that, at its first overdue
// notice, opens the pay-now link the notice carries and pays by card on
// the gateway's hosted page (the fake's PayCheckout, as its Pay button).
// The payment reaches the workflow through the checkout webhook.
func (s *simulator) payOnHostedPage(v account.StatusView) error {
	for _, inv := range v.Invoices {
		if inv.Stage != payOnPageStage || inv.OutstandingMinor <= 0 || inv.Disputed {
			continue
		}
		var open *stripefake.Session
		for _, cs := range s.stripe.Sessions() {
			if cs.Metadata[gateway.MetaCustomerID] == v.CustomerID && cs.Metadata[gateway.MetaInvoiceID] == inv.ID &&
				cs.Status == "open" && cs.AmountTotal == inv.OutstandingMinor && cs.URL != nil {
				open = &cs
			}
		}
		if open == nil || s.done(open.ID) {
			continue // no email with a link yet, or paid and not yet recorded
		}
		s.mark(open.ID)
		say("%s: the customer pays %s on %s", v.CustomerID, money.Format(open.AmountTotal, v.Currency), *open.URL)
		if _, err := s.stripe.PayCheckout(open.ID, hostedPagePM); err != nil {
			return err
		}
	}
	return nil
}

type simulator struct {
	c      client.Client
	stripe *stripefake.Server // the fake gateway: the card customers' bank and pay page
	suffix string
	people []persona

	mu    sync.Mutex
	flags map[string]time.Time
	notes map[string]string // IDs a persona remembers (a PaymentIntent, a dispute)
	paid  int
}

func (s *simulator) customerID(p persona) string { return p.id + "-" + s.suffix }

func (s *simulator) ids() string {
	var ids []string
	for _, p := range s.people {
		ids = append(ids, s.customerID(p))
	}
	return strings.Join(ids, ", ")
}

func (s *simulator) first() string { return s.customerID(s.people[0]) }

// cardIDs are the customers who pay by card (saved or on the pay page).
func (s *simulator) cardIDs() string {
	var ids []string
	for _, p := range s.people {
		if p.instrument.Type == account.InstrumentCard || p.id == "paylink" {
			ids = append(ids, s.customerID(p))
		}
	}
	return strings.Join(ids, ", ")
}

func (s *simulator) onboard(ctx context.Context) error {
	s.people = personas()
	s.flags = map[string]time.Time{}
	s.notes = map[string]string{}
	for i, p := range s.people {
		id := s.customerID(p)
		email, instrument := p.email, p.instrument
		if email == "" {
			email = "billing@" + p.id + ".example"
		}
		if instrument.Type == "" {
			instrument.Type = account.InstrumentBankTransfer
		}
		app := account.Application{
			CustomerID: id, Name: p.name, Email: email, Phone: fmt.Sprintf("+1415555%04d", 100+i),
			Country: p.country, Currency: p.currency, Locale: p.locale, Policy: "demo",
			Plan:              account.Plan{MonthlyFeeMinor: p.fee},
			PaymentInstrument: instrument,
			SignupIP:          fmt.Sprintf("198.51.100.%d", 10+i),
		}
		_, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.WorkflowID(id), TaskQueue: workflows.DefaultTaskQueue,
			WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			TypedSearchAttributes:                    temporal.NewSearchAttributes(workflows.AttrCustomerID.ValueSet(id)),
			StaticSummary:                            p.name + ": " + p.about,
		}, workflows.WorkflowType, workflows.Input{Application: app})
		if err != nil {
			return fmt.Errorf("onboard %s: %w", id, err)
		}
		say("onboarded %-18s %s", id, p.about)
	}
	return nil
}

// run drives every persona until ctx ends, printing a status table now and then.
func (s *simulator) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastTable := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var views []account.StatusView
		for _, p := range s.people {
			v, err := s.status(ctx, s.customerID(p))
			if err != nil {
				continue // terminated customers answer from their closed workflow; others may be busy
			}
			views = append(views, v)
			if p.prepay && v.Status == account.StatusAwaitingPrepayment {
				_ = s.payOpen(v, func(account.InvoiceView) bool { return true })
				continue
			}
			if err := p.act(s, v); err != nil {
				say("%s: %v", v.CustomerID, err)
			}
		}
		if time.Since(lastTable) > 10*time.Second {
			lastTable = time.Now()
			printTable(views)
		}
	}
}

func (s *simulator) status(ctx context.Context, id string) (account.StatusView, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return contract.Ask(qctx, s.c, workflows.QueryGetStatus, workflows.WorkflowID(id), "")
}

// payOpen pays the outstanding amount of the open invoices that match.
func (s *simulator) payOpen(v account.StatusView, match func(account.InvoiceView) bool) error {
	var total int64
	for _, inv := range v.Invoices {
		if match(inv) && inv.OutstandingMinor > 0 && !inv.Disputed {
			total += inv.OutstandingMinor
		}
	}
	if total == 0 {
		return nil
	}
	s.mu.Lock()
	s.paid++
	n := s.paid
	s.mu.Unlock()
	return update(s, v.CustomerID, workflows.UpdateRecordPayment, account.Payment{
		PaymentID: fmt.Sprintf("demo-%s-%d", v.CustomerID, n), AmountMinor: total, Currency: v.Currency,
		Method: "bank_transfer", Reference: v.CustomerID, Actor: "demo-customer",
	})
}

// update runs the update u with req on the customer's lifecycle.
func update[Req, Res any](s *simulator, id string, u contract.Update[Req, Res], req Req) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := contract.Call(ctx, s.c, u, workflows.WorkflowID(id), req)
	return err
}

func (s *simulator) mark(k string) { s.markAt(k, time.Now()) }

func (s *simulator) markAt(k string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flags[k] = t
}

func (s *simulator) done(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.flags[k]
	return ok
}

func (s *simulator) setNote(k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes[k] = v
}

func (s *simulator) note(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notes[k]
}

// due reports whether a flag's time has come.
func (s *simulator) due(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.flags[k]
	return ok && !time.Now().Before(t)
}

func printTable(views []account.StatusView) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\n%s\tSTATUS\tACCESS\tSTAGE\tOVERDUE\tNEXT\n", time.Now().Format("15:04:05"))
	for _, v := range views {
		next := v.NextAction
		if next == "" {
			next = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.CustomerID, v.Status, v.Access, v.DunningStage, money.Format(v.OverdueMinor, v.Currency), next)
	}
	_ = tw.Flush()
}
