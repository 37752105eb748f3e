package stripefake

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// createPaymentIntent creates and, with confirm=true, charges a
// PaymentIntent. A decline answers 402 with the PaymentIntent in the error.
func (s *Server) createPaymentIntent(f url.Values, key string) (int, any) {
	amount, err := strconv.ParseInt(f.Get("amount"), 10, 64)
	if err != nil || amount < 1 {
		return badParam("amount", "Invalid positive integer")
	}
	currency := f.Get("currency")
	if len(currency) != 3 || strings.ToLower(currency) != currency {
		return badParam("currency", "Invalid currency: "+currency+". Stripe currently supports these currencies: usd, krw, ...")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	customer := f.Get("customer")
	if _, ok := s.customers[customer]; customer != "" && !ok {
		_, b := notFound("customer", customer, "customer")
		return http.StatusBadRequest, b
	}
	pi := &PaymentIntent{
		ID: newID("pi"), Object: "payment_intent", Amount: amount, Currency: currency,
		Status: "requires_payment_method", Metadata: metadata(f, "metadata"), Created: time.Now().Unix(),
		CaptureMethod: "automatic", ConfirmationMethod: "automatic", PaymentMethodTypes: []string{"card"},
		IdempotencyKey: key,
	}
	pi.ClientSecret = pi.ID + "_secret_" + newID("s")[2:]
	if customer != "" {
		pi.Customer = ptr(customer)
	}
	if d := f.Get("description"); d != "" {
		pi.Description = ptr(d)
	}
	var pm *PaymentMethod
	if id := f.Get("payment_method"); id != "" {
		var ok bool
		if pm, ok = s.paymentMethod(id); !ok {
			_, b := notFound("payment_method", id, "payment_method")
			return http.StatusBadRequest, b
		}
		if pm.Customer != nil && *pm.Customer != customer {
			return badParam("payment_method", "The provided PaymentMethod belongs to another customer.")
		}
		pi.PaymentMethod = ptr(pm.ID)
		pi.Status = "requires_confirmation"
	}
	s.pis = append(s.pis, pi)
	if f.Get("confirm") != "true" || pm == nil {
		return http.StatusOK, *pi
	}
	if e := s.chargeLocked(pi, pm, key); e != nil {
		s.emitLocked("payment_intent.payment_failed", *pi)
		e.PaymentIntent = ptr(*pi)
		return errorBody(http.StatusPaymentRequired, *e)
	}
	s.emitLocked("payment_intent.succeeded", *pi)
	return http.StatusOK, *pi
}

// chargeLocked asks the bank: the PaymentIntent succeeds or gets its
// last_payment_error (returned, for the 402). The caller sends the events.
func (s *Server) chargeLocked(pi *PaymentIntent, pm *PaymentMethod, key string) *APIError {
	if key == "" {
		key = pi.Metadata["attempt_key"]
	}
	if key != "" {
		s.charges[key]++
	}
	charge := newID("ch")
	pi.LatestCharge = ptr(charge)
	d := s.bankAnswer(pm, pi)
	if d.ok() {
		pi.Status, pi.AmountReceived = "succeeded", pi.Amount
		if cards[pm.number].dispute {
			id := pi.ID
			time.AfterFunc(s.DisputeDelay, func() { s.CreateDispute(id, "fraudulent") })
		}
		return nil
	}
	e := &APIError{Type: typeCard, Code: d.code, DeclineCode: d.declineCode, AdviceCode: d.advice,
		NetworkAdviceCode: d.network, Message: d.message, Charge: charge,
		DocURL: "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(d.code, "_", "-")}
	lpe := *e
	lpe.PaymentMethod = ptr(*pm)
	// Off-session, a card that wants authentication fails like a decline
	// (code authentication_required); the customer must come back on-session.
	pi.Status, pi.LastPaymentError = "requires_payment_method", &lpe
	return e
}

// bankAnswer decides a charge: a script first, then the demo cards, then
// the card number's behaviour.
func (s *Server) bankAnswer(pm *PaymentMethod, pi *PaymentIntent) decline {
	for _, id := range []string{pm.ID, pm.origin} {
		if q := s.scripts[id]; id != "" && len(q) > 0 {
			s.scripts[id] = q[1:]
			return declineFor(q[0])
		}
	}
	switch pm.origin {
	case PMDemoSoftDeclineOnce:
		who := ""
		if pi.Customer != nil {
			who = *pi.Customer
		}
		if !s.softSeen[who] {
			s.softSeen[who] = true
			return declineFor(InsufficientFunds)
		}
		return decline{}
	case PMDemoExpiring:
		return declineFor(ExpiredCard)
	}
	return declineFor(cards[pm.number].decline)
}

func (s *Server) getPaymentIntent(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pi := s.findPI(id); pi != nil {
		return http.StatusOK, *pi
	}
	return notFound("payment_intent", id, "intent")
}

func (s *Server) findPI(id string) *PaymentIntent {
	for _, pi := range s.pis {
		if pi.ID == id {
			return pi
		}
	}
	return nil
}

// listPaymentIntents lists newest first, as Stripe does, with customer,
// limit (1..100, default 10) and starting_after.
func (s *Server) listPaymentIntents(f url.Values) (int, any) {
	limit := 10
	if v := f.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return badParam("limit", "Invalid integer: limit must be between 1 and 100")
		}
		limit = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	customer := f.Get("customer")
	var all []PaymentIntent
	for _, pi := range slices.Backward(s.pis) {
		if customer == "" || (pi.Customer != nil && *pi.Customer == customer) {
			all = append(all, *pi)
		}
	}
	if after := f.Get("starting_after"); after != "" {
		i := slices.IndexFunc(all, func(pi PaymentIntent) bool { return pi.ID == after })
		if i < 0 {
			_, b := notFound("payment_intent", after, "starting_after")
			return http.StatusBadRequest, b
		}
		all = all[i+1:]
	}
	more := len(all) > limit
	if more {
		all = all[:limit]
	}
	if all == nil {
		all = []PaymentIntent{}
	}
	return http.StatusOK, list{Object: "list", Data: all, HasMore: more, URL: "/v1/payment_intents"}
}
