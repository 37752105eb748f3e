package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/gateway/stripefake"
	"github.com/example/dunning/workflows"
)

// Card payers in the chaos suite: customers collected through the (fake)
// Stripe, so that the database cut, the PostgreSQL restart and the
// SIGKILLs hit charges too, beside faults of the gateway itself (503, 429
// with Retry-After, hangs, and charges whose answer is lost:
// ChargeThenFail, and ChargeThenHold with the worker killed while the
// charge is held). Settings: CHAOS_CARDS (8; 0 leaves them out), added to
// CHAOS_CUSTOMERS.

const chaosStripeSecret = "whsec_chaos"

// card payer kinds.
const (
	kindCardGood    = "card-good"    // a good card: every charge succeeds (when the gateway answers)
	kindCardSoft    = "card-soft"    // insufficient funds on the first charge, then success
	kindCardExpired = "card-expired" // expired: the card is blocked, and the customer saves a new one
	kindPayLink     = "pay-link"     // bank transfer, pays every invoice on the pay-now link of its emails
	kindCardLink    = "card-link"    // a card without funds; pays on the pay-now link once overdue
)

var cardKindCycle = []string{kindCardGood, kindCardSoft, kindCardExpired, kindPayLink, kindCardGood, kindCardSoft, kindCardExpired, kindCardLink}

var cardPM = map[string]string{
	kindCardGood: stripefake.PMVisa, kindCardSoft: stripefake.PMDemoSoftDeclineOnce,
	kindCardExpired: stripefake.PMExpiredCard, kindCardLink: stripefake.PMInsufficientFunds,
}

func isCardKind(kind string) bool { return slices.Contains(cardKindCycle, kind) }

// cardCustomers are the card payers, after the n others. Half are asked
// for a prepayment (a free-mail address, charged at once); the rest are
// approved at once and charged at each due date. They use a free-mail
// domain of their own so that the bank-transfer customers' gmail.com stays
// under the domain velocity rule, and fewer than ten share the BIN.
func cardCustomers(first, n int) []*chaosCustomer {
	out := make([]*chaosCustomer, n)
	for j := range n {
		i := first + j
		id := fmt.Sprintf("chaos-card-%02d", j)
		kind := cardKindCycle[j%len(cardKindCycle)]
		email := fmt.Sprintf("billing@%s.chaos.example", id)
		if slices.Contains([]int{1, 3, 4, 6}, j%8) {
			email = id + "@outlook.com"
		}
		currency := "USD"
		if j%2 == 1 {
			currency = "EUR"
		}
		app := account.Application{
			CustomerID: id, Name: "Chaos card customer " + id, Email: email, Phone: fmt.Sprintf("+5255%08d", 80000+j),
			Country: "MX", Currency: currency, Locale: "en", Policy: "demo",
			Plan:              account.Plan{MonthlyFeeMinor: int64(6000 + 500*(j%5))},
			PaymentInstrument: account.PaymentInstrument{Type: "bank_transfer"},
			SignupIP:          fmt.Sprintf("203.0.113.%d", 1+j%250),
		}
		if pm, ok := cardPM[kind]; ok {
			app.PaymentInstrument = account.PaymentInstrument{Type: account.InstrumentCard, CardBIN: "424242", PaymentMethodID: pm}
		}
		out[j] = &chaosCustomer{idx: i, app: app, kind: kind, sharedIDs: j%2 == 0}
	}
	return out
}

// cardOp is what a card payer did outside the ledger: a new card saved, or
// a pay-now page paid.
type cardOp struct {
	kind     string // set_payment_method, pay_checkout
	customer string
	what     string // the payment method, or the session
	pi       string // the PaymentIntent of a paid session
	attempts int
	acked    bool
	err      string
}

type cardLedger struct {
	mu  sync.Mutex
	ops []*cardOp
}

func (l *cardLedger) add(o *cardOp) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, o)
}

func (l *cardLedger) all() []cardOp {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]cardOp, len(l.ops))
	for i, o := range l.ops {
		out[i] = *o
	}
	return out
}

// driveCard plays a card payer: usage like everyone, no bank transfers;
// the expired card is replaced once blocked, the pay-now payers pay on the
// gateway's hosted page.
func (ce *chaosEnv) driveCard(c *chaosCustomer, rng *rand.Rand) {
	lastUsage := time.Now()
	replaced := false
	paid := map[string]bool{} // invoices paid on a pay-now page
	for !ce.stopped.Load() {
		time.Sleep(time.Second + jitter(rng, 1500*time.Millisecond))
		v, _, err := ce.statusOf(c.id(), 5*time.Second)
		if err != nil {
			continue
		}
		if v.Status == account.StatusTerminated {
			return
		}
		if c.kind == kindCardExpired && !replaced && v.Card != nil && v.Card.Blocked == "after_card_change" {
			replaced = true
			ce.setCard(c, stripefake.PMVisa)
			continue
		}
		if c.kind == kindPayLink || c.kind == kindCardLink {
			if ce.payLink(c, v, paid) {
				continue
			}
		}
		operational := v.Status == account.StatusActive || v.Status == account.StatusPastDue || v.Status == account.StatusSuspended
		if operational && time.Since(lastUsage) > 8*time.Second && rng.IntN(2) == 0 {
			lastUsage = time.Now()
			ce.usage(c, 100+rng.Int64N(1900))
		}
	}
}

// setCard saves a new card the way a careful caller does: the same
// request again while the outcome is unknown.
func (ce *chaosEnv) setCard(c *chaosCustomer, pm string) {
	o := &cardOp{kind: "set_payment_method", customer: c.id(), what: pm}
	ce.cards.add(o)
	for {
		var res json.RawMessage
		r, err := ce.callUpdate(c.id(), workflows.UpdateSetPaymentMethod.Name, account.CardUpdate{PaymentMethodID: pm, Actor: chaosActor}, &res)
		ce.cards.mu.Lock()
		o.attempts++
		if err != nil {
			o.err = err.Error()
		}
		o.acked = r == answered
		ce.cards.mu.Unlock()
		if r != unknown || time.Now().After(ce.giveUp) {
			ce.faults.note("%s saved a new card %s: %v (%d attempts)", c.id(), pm, err, o.attempts)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// payLink pays, on the gateway's hosted page, the newest open session of
// an invoice the customer owes, once per invoice: at once for the
// bank-transfer payer, once overdue (its card declined) for the other.
func (ce *chaosEnv) payLink(c *chaosCustomer, v account.StatusView, paid map[string]bool) bool {
	owed := map[string]bool{}
	for _, inv := range v.Invoices {
		if inv.OutstandingMinor <= 0 || paid[inv.ID] {
			continue
		}
		late := slices.Contains([]string{"overdue_1", "overdue_2", "final_notice", "suspended"}, inv.Stage)
		if c.kind == kindPayLink || late || v.Status == account.StatusAwaitingPrepayment {
			owed[inv.ID] = true
		}
	}
	if len(owed) == 0 {
		return false
	}
	var pick *stripefake.Session
	for _, s := range ce.stripe.Sessions() {
		if s.Metadata["customer_id"] == c.id() && s.Status == "open" && owed[s.Metadata["invoice_id"]] {
			pick = &s
		}
	}
	if pick == nil {
		return false
	}
	inv := pick.Metadata["invoice_id"]
	paid[inv] = true
	o := &cardOp{kind: "pay_checkout", customer: c.id(), what: pick.ID, attempts: 1}
	pi, err := ce.stripe.PayCheckout(pick.ID, stripefake.PMVisa)
	o.pi, o.acked = pi, err == nil
	if err != nil {
		o.err = err.Error()
	}
	ce.cards.add(o)
	ce.faults.note("%s paid %s %d %s on its pay-now page %s: %s %v", c.id(), inv, pick.AmountTotal, pick.Currency, pick.ID, pi, err)
	return true
}

// gatewayFaults puts the fake Stripe's faults in the timeline: lost
// answers early (before the cut, at the first due dates), then 503, 429
// and hangs beside SendGrid's, then lost answers again and a charge held
// while the worker is killed.
func (ce *chaosEnv) gatewayFaults(at func(time.Duration, func()), warm, start, end time.Duration) {
	if len(ce.cardCusts()) == 0 {
		return
	}
	const charges = "/v1/payment_intents"
	at(warm, func() {
		ce.stripe.Inject(stripefake.Fault{Path: charges, ChargeThenFail: true}, stripefake.Fault{Path: charges, ChargeThenFail: true, Status: 502})
		ce.faults.inject("stripe_charge_then_fail", "the next 2 charges are made and their answers lost (500, 502)")
	})
	at(start, func() {
		ce.stripe.SetFault(stripefake.Fault{Status: 503})
		ce.faults.inject("stripe_5xx", "503 for every request for 20s")
	})
	at(start+20*time.Second, func() {
		ce.stripe.SetFault(stripefake.Fault{Status: 429, RetryAfter: 2 * time.Second})
		ce.faults.inject("stripe_429", "429 (Retry-After 2s) for 20s")
	})
	at(start+40*time.Second, func() {
		ce.stripe.SetFault(stripefake.Fault{Hang: true})
		ce.faults.inject("stripe_hang", "hang every request for %s", end-start-40*time.Second)
	})
	at(end, func() {
		ce.stripe.ClearFault()
		ce.faults.note("Stripe answers again")
		ce.stripe.Inject(stripefake.Fault{Path: charges, ChargeThenFail: true, Status: 503})
		ce.faults.inject("stripe_charge_then_fail", "the next charge is made and its answer lost (503)")
	})
	// A charge made and its answer held: the worker is killed in that
	// window (kills are on; CHAOS_KILLS=0 leaves it out).
	if ce.cfg.kills == 0 {
		return
	}
	at(end+2*time.Second, func() {
		before := len(ce.stripe.PaymentIntents())
		ce.stripe.Inject(stripefake.Fault{Path: charges, ChargeThenHold: 45 * time.Second})
		ce.faults.note("the next charge will be made and its answer held for 45s")
		deadline := time.Now().Add(25 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			for _, pi := range ce.stripe.PaymentIntents()[before:] {
				key := pi.Metadata["attempt_key"]
				if pi.Status != "succeeded" || key == "" || ce.rowExists(`SELECT count(*) FROM charge_attempts WHERE idempotency_key = $1 AND status = 'pending'`, key) != "yes" {
					continue
				}
				time.Sleep(300 * time.Millisecond) // the answer is held: the worker waits for it
				if ce.sup.kill() {
					ce.faults.inject("worker_sigkill_charge_held", "SIGKILL the worker while the charge %s (%s) is made and its answer held", key, pi.ID)
				}
				return
			}
		}
		ce.faults.note("no charge was held in 25s: no kill in the charge window (the held fault stays queued for the next charge)")
	})
}

func (ce *chaosEnv) cardCusts() []*chaosCustomer {
	var out []*chaosCustomer
	for _, c := range ce.custs {
		if isCardKind(c.kind) {
			out = append(out, c)
		}
	}
	return out
}

// stripeRelay stands between the fake Stripe and the worker's webhook. The
// fake gives an event up after 6 failed deliveries over a few seconds;
// Stripe goes on for three days. The relay takes each event at once and
// delivers it to the worker in order, signed afresh for every attempt as
// Stripe does, until the worker takes it: a worker killed or cut off from
// PostgreSQL must not lose a pay-now payment merely because the fake gave
// up sooner than Stripe would.
type stripeRelay struct {
	target, secret string
	srv            *httptest.Server
	client         *http.Client

	mu                                    sync.Mutex
	queue                                 []relayEvent
	received, delivered, attempts, failed int
	beyondFake, maxAttempts               int // events that needed more than the fake's 6 attempts; the most one needed
	refused                               []string
	wake, stop, done                      chan struct{}
}

type relayEvent struct {
	id, typ string
	payload []byte
}

func newStripeRelay(target, secret string) *stripeRelay {
	r := &stripeRelay{target: target, secret: secret, client: &http.Client{Timeout: 30 * time.Second},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.accept))
	go r.loop()
	return r
}

func (r *stripeRelay) URL() string { return r.srv.URL }

func (r *stripeRelay) accept(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var head struct{ ID, Type string }
	_ = json.Unmarshal(body, &head)
	r.mu.Lock()
	r.queue = append(r.queue, relayEvent{id: head.ID, typ: head.Type, payload: body})
	r.received++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusOK)
}

func (r *stripeRelay) loop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		var ev *relayEvent
		if len(r.queue) > 0 {
			ev = &r.queue[0]
		}
		r.mu.Unlock()
		if ev == nil {
			select {
			case <-r.wake:
				continue
			case <-r.stop:
				return
			}
		}
		backoff := 500 * time.Millisecond
		for n := 1; ; n++ {
			status := r.post(*ev)
			r.mu.Lock()
			r.attempts++
			ok := status >= 200 && status < 300
			if !ok {
				r.failed++
			}
			if ok || status == http.StatusBadRequest {
				if status == http.StatusBadRequest {
					r.refused = append(r.refused, ev.id+" "+ev.typ)
				}
				r.delivered++
				r.maxAttempts = max(r.maxAttempts, n)
				if n > stripefake.MaxAttempts {
					r.beyondFake++
				}
				r.queue = r.queue[1:]
				r.mu.Unlock()
				break
			}
			r.mu.Unlock()
			select {
			case <-time.After(backoff):
			case <-r.stop:
				return
			}
			backoff = min(2*backoff, 4*time.Second)
		}
	}
}

func (r *stripeRelay) post(ev relayEvent) int {
	req, err := http.NewRequest(http.MethodPost, r.target, bytes.NewReader(ev.payload))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripefake.Sign(r.secret, ev.payload, time.Now()))
	res, err := r.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

func (r *stripeRelay) pending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.queue {
		out = append(out, ev.id+" "+ev.typ)
	}
	return out
}

func (r *stripeRelay) Close() {
	close(r.stop)
	<-r.done
	r.srv.Close()
}

// cardTally is what the gateway check found.
type cardTally struct {
	Customers                        int
	PISucceeded, PIFailed            int // at the fake
	PaymentsGateway, PaymentsPayLink int // payments rows by actor
	Missing, Extra, Duplicates       int // succeeded PIs without a row; rows without a succeeded PI; PIs recorded more than once
	WrongAmount, WrongActor          int
	Attempts                         int // charge_attempts rows
	AttemptsByStatus                 map[string]int
	DoubleCharges                    int // attempt keys the bank was asked to charge more than once
	Pending, InFlight                int // pending attempts: stuck (a problem) / just sent (under a minute, after the lift)
	AttemptMismatch                  int // a succeeded PI whose attempt is not recorded succeeded with it
	CardsSet, CardsSetAcked          int
	LinksPaid                        int
	EventsPending, EventsUnprocessed int // at the relay; in gateway_events
	Overcollected                    int // invoices whose succeeded PIs exceed what was invoiced
	overcollected                    []string
}

// checkCards compares the gateway with PostgreSQL.
func (ce *chaosEnv) checkCards(rep *chaosReport) {
	cards := ce.cardCusts()
	ct := &rep.Cards
	*ct = cardTally{Customers: len(cards), AttemptsByStatus: map[string]int{}}
	if len(cards) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type payRow struct {
		Customer string `db:"customer_id"`
		ID       string `db:"payment_id"`
		Amount   int64  `db:"amount_minor"`
		Currency string `db:"currency"`
		Actor    string `db:"actor"`
	}
	var pays []payRow
	if err := ce.db.SelectContext(ctx, &pays, `SELECT customer_id, payment_id, amount_minor, currency, actor FROM payments
		WHERE actor IN ('gateway', 'pay-link') OR payment_id LIKE 'pi\_%'`); err != nil {
		rep.problem("database readable", "gateway payments: %v", err)
		return
	}
	type attempt struct {
		Customer  string    `db:"customer_id"`
		Invoice   string    `db:"invoice_id"`
		Key       string    `db:"idempotency_key"`
		Status    string    `db:"status"`
		PI        *string   `db:"payment_intent_id"`
		Requested time.Time `db:"requested_at"`
	}
	var attempts []attempt
	if err := ce.db.SelectContext(ctx, &attempts, `SELECT customer_id, invoice_id, idempotency_key, status, payment_intent_id, requested_at FROM charge_attempts`); err != nil {
		rep.problem("database readable", "charge attempts: %v", err)
		return
	}
	type invRow struct {
		Customer string `db:"customer_id"`
		ID       string `db:"invoice_id"`
		Amount   int64  `db:"amount_minor"`
	}
	var invs []invRow
	if err := ce.db.SelectContext(ctx, &invs, `SELECT customer_id, invoice_id, amount_minor FROM invoices`); err != nil {
		rep.problem("database readable", "invoices: %v", err)
		return
	}
	invoiced := map[rowKey]int64{}
	for _, r := range invs {
		invoiced[rowKey{r.Customer, r.ID}] = r.Amount
	}

	rowsByPI := map[string][]payRow{}
	for _, p := range pays {
		rowsByPI[p.ID] = append(rowsByPI[p.ID], p)
		switch p.Actor {
		case "gateway":
			ct.PaymentsGateway++
		case "pay-link":
			ct.PaymentsPayLink++
		}
	}
	attemptByKey := map[string]attempt{}
	for _, a := range attempts {
		attemptByKey[a.Key] = a
	}
	succeeded := map[string]bool{}
	collected, charged := map[rowKey]int64{}, map[rowKey]int64{}
	keys := map[string]string{} // every attempt key, at the gateway or in PostgreSQL: its customer
	for _, a := range attempts {
		keys[a.Key] = a.Customer
	}
	for _, pi := range ce.stripe.PaymentIntents() {
		key := pi.Metadata["attempt_key"]
		if key != "" {
			keys[key] = pi.Metadata["customer_id"]
		}
		if pi.Status != "succeeded" {
			ct.PIFailed++
			continue
		}
		ct.PISucceeded++
		succeeded[pi.ID] = true
		cust := pi.Metadata["customer_id"]
		collected[rowKey{cust, pi.Metadata["invoice_id"]}] += pi.AmountReceived
		if pi.Metadata["attempt_key"] != "" {
			charged[rowKey{cust, pi.Metadata["invoice_id"]}] += pi.AmountReceived
		}
		rows := rowsByPI[pi.ID]
		switch {
		case len(rows) == 0:
			ct.Missing++
			rep.problem("every card payment recorded once", "PaymentIntent %s of %s (%d %s, attempt %q) succeeded at the gateway and is not in payments",
				pi.ID, cust, pi.AmountReceived, pi.Currency, key)
			continue
		case len(rows) > 1:
			ct.Duplicates++
			rep.problem("every card payment recorded once", "PaymentIntent %s of %s is in payments %d times: %+v", pi.ID, cust, len(rows), rows)
		}
		r := rows[0]
		if r.Customer != cust || r.Amount != pi.AmountReceived || !strings.EqualFold(r.Currency, pi.Currency) {
			ct.WrongAmount++
			rep.problem("every card payment recorded once", "PaymentIntent %s: %s %d %s at the gateway, %s %d %s in payments",
				pi.ID, cust, pi.AmountReceived, pi.Currency, r.Customer, r.Amount, r.Currency)
		}
		wantActor := "pay-link"
		if key != "" {
			wantActor = "gateway"
		}
		if r.Actor != wantActor {
			ct.WrongActor++
			rep.problem("every card payment recorded once", "PaymentIntent %s of %s recorded with actor %q, want %q", pi.ID, cust, r.Actor, wantActor)
		}
		if key != "" {
			a, ok := attemptByKey[key]
			if !ok || (a.Status != "pending" && (a.Status != "succeeded" || a.PI == nil || *a.PI != pi.ID)) {
				ct.AttemptMismatch++
				rep.problem("charge attempts agree with the gateway", "PaymentIntent %s succeeded for attempt %s, whose row is %+v (found %v)", pi.ID, key, a, ok)
			}
		}
	}
	for id, rows := range rowsByPI {
		if !succeeded[id] {
			ct.Extra += len(rows)
			rep.problem("every card payment recorded once", "payments row %+v has no succeeded PaymentIntent at the gateway", rows[0])
		}
	}
	for key, cust := range keys {
		if n := ce.stripe.ChargesFor(key); n > 1 {
			ct.DoubleCharges++
			rep.problem("one charge per attempt", "attempt %s of %s was charged %d times at the gateway", key, cust, n)
		}
	}
	for k, sum := range collected {
		if amt, ok := invoiced[k]; ok && sum > amt {
			ct.Overcollected++
			ct.overcollected = append(ct.overcollected, fmt.Sprintf("%s %s: invoiced %d, succeeded PaymentIntents %d", k.customer, k.id, amt, sum))
		}
		// The customer paying on the page while a retry is answered may
		// pay twice (a credit); our own charges must never take more than
		// the invoice.
		if amt, ok := invoiced[k]; ok && charged[k] > amt {
			rep.problem("automatic charges never take more than the invoice", "%s %s: invoiced %d, charged %d by automatic attempts", k.customer, k.id, amt, charged[k])
		}
	}
	for _, a := range attempts {
		ct.Attempts++
		ct.AttemptsByStatus[a.Status]++
		if a.Status != "pending" {
			continue
		}
		// One sent in the last minute, after the faults were lifted, is
		// in flight: the drain never ends for the invoices that keep
		// falling due. One older than that is stuck.
		if a.Requested.After(ce.liftAt) && time.Since(a.Requested) < time.Minute {
			ct.InFlight++
			continue
		}
		ct.Pending++
		rep.problem("no charge attempt left pending", "attempt %s of %s (invoice %s) still pending, sent %s ago (charges at the gateway %d)",
			a.Key, a.Customer, a.Invoice, time.Since(a.Requested).Round(time.Second), ce.stripe.ChargesFor(a.Key))
	}
	for _, o := range ce.cards.all() {
		switch o.kind {
		case "set_payment_method":
			ct.CardsSet++
			if o.acked {
				ct.CardsSetAcked++
			}
		case "pay_checkout":
			if o.acked {
				ct.LinksPaid++
			}
		}
	}
	if pend := ce.relay.pending(); len(pend) > 0 {
		ct.EventsPending = len(pend)
		rep.problem("every Stripe event delivered", "%d events still waiting for the worker's webhook: %v", len(pend), pend[:min(len(pend), 10)])
	}
	ce.relay.mu.Lock()
	refused := slices.Clone(ce.relay.refused)
	ce.relay.mu.Unlock()
	for _, r := range refused {
		rep.problem("every Stripe event delivered", "the webhook refused %s with 400 (a fresh signature)", r)
	}
	var unprocessed []string
	if err := ce.db.SelectContext(ctx, &unprocessed, `SELECT event_id || ' ' || type || ' ' || coalesce(customer_id, '') || ' ' || last_error FROM gateway_events
		WHERE processed_at IS NULL AND received_at < now() - interval '90 seconds'`); err != nil {
		rep.problem("database readable", "gateway events: %v", err)
		return
	}
	ct.EventsUnprocessed = len(unprocessed)
	for _, u := range unprocessed {
		rep.problem("every Stripe event processed", "%s", u)
	}
}

// reportCards prints the gateway's figures.
func (ce *chaosEnv) reportCards(rep *chaosReport) {
	ct := rep.Cards
	if ct.Customers == 0 {
		return
	}
	t := ce.t
	ce.relay.mu.Lock()
	relay := fmt.Sprintf("received %d, delivered %d, attempts %d (%d failed), needed more than the fake's %d attempts %d, most attempts for one %d, refused %d",
		ce.relay.received, ce.relay.delivered, ce.relay.attempts, ce.relay.failed, stripefake.MaxAttempts, ce.relay.beyondFake, ce.relay.maxAttempts, len(ce.relay.refused))
	ce.relay.mu.Unlock()
	reqs := ce.stripe.Requests()
	var total int
	for _, v := range reqs {
		total += v
	}
	t.Logf("gateway: %d card customers; requests %d %v", ct.Customers, total, reqs)
	t.Logf("gateway: PaymentIntents succeeded %d, failed %d; payments gateway %d, pay-link %d; missing %d, extra %d, recorded twice %d, wrong amount %d, wrong actor %d",
		ct.PISucceeded, ct.PIFailed, ct.PaymentsGateway, ct.PaymentsPayLink, ct.Missing, ct.Extra, ct.Duplicates, ct.WrongAmount, ct.WrongActor)
	t.Logf("gateway: charge attempts %d %v, double charges %d, stuck pending %d, in flight %d, disagreeing with the gateway %d",
		ct.Attempts, ct.AttemptsByStatus, ct.DoubleCharges, ct.Pending, ct.InFlight, ct.AttemptMismatch)
	t.Logf("gateway: new cards saved %d (acknowledged %d), pay-now pages paid %d; webhook relay: %s; events undelivered %d, unprocessed %d",
		ct.CardsSet, ct.CardsSetAcked, ct.LinksPaid, relay, ct.EventsPending, ct.EventsUnprocessed)
	for _, o := range ce.cards.all() {
		if !o.acked {
			t.Logf("  card op not acknowledged: %+v", o)
		}
	}
	for _, s := range ct.overcollected {
		t.Logf("  NOTE invoice collected more than invoiced (the customer paid twice; a credit): %s", s)
	}
	for _, c := range ce.cardCusts() {
		var rows []string
		_ = ce.db.Select(&rows, `SELECT invoice_id || '#' || attempt || '/' || trigger || '/' || status FROM charge_attempts WHERE customer_id = $1 ORDER BY requested_at`, c.id())
		v, _, err := ce.statusOf(c.id(), 10*time.Second)
		st := string(v.Status)
		if err != nil {
			st = err.Error()
		}
		t.Logf("  %s %s: %s; attempts %s", c.id(), c.kind, st, strings.Join(rows, " "))
	}
}

func cardSummary(ct cardTally) string {
	if ct.Customers == 0 {
		return "cards=0"
	}
	by := make([]string, 0, len(ct.AttemptsByStatus))
	for _, k := range slices.Sorted(maps.Keys(ct.AttemptsByStatus)) {
		by = append(by, fmt.Sprintf("%s:%d", k, ct.AttemptsByStatus[k]))
	}
	return fmt.Sprintf("cards=%d gw_pi_succeeded=%d gw_payments=%d (gateway %d, pay-link %d) gw_missing=%d gw_extra=%d gw_duplicates=%d "+
		"double_charges=%d charge_attempts=%d (%s) attempts_pending=%d (in flight %d) stripe_events_undelivered=%d unprocessed=%d",
		ct.Customers, ct.PISucceeded, ct.PaymentsGateway+ct.PaymentsPayLink, ct.PaymentsGateway, ct.PaymentsPayLink, ct.Missing, ct.Extra, ct.Duplicates,
		ct.DoubleCharges, ct.Attempts, strings.Join(by, ","), ct.Pending, ct.InFlight, ct.EventsPending, ct.EventsUnprocessed)
}
