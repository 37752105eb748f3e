package stripefake

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// route executes one API request and returns its status and JSON body.
func (s *Server) route(r *http.Request) (int, any) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/"), "/"), "/")
	f := r.Form
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case len(parts) == 1 && parts[0] == "customers" && post:
		return s.createCustomer(f)
	case len(parts) == 2 && parts[0] == "customers" && get:
		return s.getCustomer(parts[1])
	case len(parts) == 2 && parts[0] == "customers" && post:
		return s.updateCustomer(parts[1], f)
	case len(parts) == 1 && parts[0] == "payment_methods" && post:
		return s.createPaymentMethod(f)
	case len(parts) == 2 && parts[0] == "payment_methods" && get:
		return s.getPaymentMethod(parts[1])
	case len(parts) == 3 && parts[0] == "payment_methods" && parts[2] == "attach" && post:
		return s.attach(parts[1], f.Get("customer"))
	case len(parts) == 1 && parts[0] == "payment_intents" && post:
		return s.createPaymentIntent(f, r.Header.Get("Idempotency-Key"))
	case len(parts) == 1 && parts[0] == "payment_intents" && get:
		return s.listPaymentIntents(f)
	case len(parts) == 2 && parts[0] == "payment_intents" && get:
		return s.getPaymentIntent(parts[1])
	case len(parts) == 2 && parts[0] == "checkout" && parts[1] == "sessions" && post:
		return s.createSession(f)
	case len(parts) == 3 && parts[0] == "checkout" && parts[1] == "sessions" && get:
		return s.getSession(parts[2])
	}
	return errorBody(http.StatusNotFound, APIError{Type: typeInvalidRequest,
		Message: "Unrecognized request URL (" + r.Method + ": " + r.URL.Path + ")."})
}

func (s *Server) createCustomer(f url.Values) (int, any) {
	c := &Customer{ID: newID("cus"), Object: "customer", Created: time.Now().Unix(),
		Name: f.Get("name"), Email: f.Get("email"), Metadata: metadata(f, "metadata")}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers[c.ID] = c
	return http.StatusOK, *c
}

func (s *Server) getCustomer(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		return notFound("customer", id, "id")
	}
	return http.StatusOK, *c
}

func (s *Server) updateCustomer(id string, f url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		return notFound("customer", id, "id")
	}
	if pm := f.Get("invoice_settings[default_payment_method]"); pm != "" {
		if p, ok := s.pms[pm]; !ok || p.Customer == nil || *p.Customer != id {
			return badParam("invoice_settings[default_payment_method]",
				"The customer does not have a payment method with the ID "+pm+". The payment method must be attached to the customer.")
		}
		c.InvoiceSettings.DefaultPaymentMethod = ptr(pm)
	}
	if v := f.Get("name"); v != "" {
		c.Name = v
	}
	if v := f.Get("email"); v != "" {
		c.Email = v
	}
	for k, v := range metadata(f, "metadata") {
		c.Metadata[k] = v
	}
	return http.StatusOK, *c
}

func (s *Server) createPaymentMethod(f url.Values) (int, any) {
	if f.Get("type") != "card" {
		return badParam("type", "The fake supports type=card only.")
	}
	number := strings.ReplaceAll(f.Get("card[number]"), " ", "")
	if !luhn(number) {
		return errorBody(http.StatusPaymentRequired, APIError{Type: typeCard, Code: "incorrect_number", Param: "card[number]",
			Message: "Your card number is incorrect."})
	}
	pm := newCardPM(newID("pm"), number, time.Now().Unix())
	if m, err := strconv.Atoi(f.Get("card[exp_month]")); err == nil {
		pm.Card.ExpMonth = m
	}
	if y, err := strconv.Atoi(f.Get("card[exp_year]")); err == nil {
		pm.Card.ExpYear = y
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pms[pm.ID] = pm
	return http.StatusOK, *pm
}

// paymentMethod finds a stored payment method or a test one. The caller
// holds s.mu.
func (s *Server) paymentMethod(id string) (*PaymentMethod, bool) {
	if pm, ok := s.pms[id]; ok {
		return pm, true
	}
	if number, ok := testPMs[id]; ok {
		pm := newCardPM(id, number, time.Now().Unix())
		pm.origin = id
		return pm, true
	}
	return nil, false
}

func (s *Server) getPaymentMethod(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pm, ok := s.paymentMethod(id)
	if !ok {
		return notFound("payment_method", id, "payment_method")
	}
	return http.StatusOK, *pm
}

func (s *Server) attach(id, customer string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pm, status, body := s.attachLocked(id, customer)
	if pm == nil {
		return status, body
	}
	return http.StatusOK, *pm
}

// attachLocked attaches a payment method (a copy of a test one) and sends
// payment_method.attached, as Stripe does for every attach.
func (s *Server) attachLocked(id, customer string) (*PaymentMethod, int, any) {
	if _, ok := s.customers[customer]; !ok {
		_, b := notFound("customer", customer, "customer")
		return nil, http.StatusBadRequest, b // a missing referenced object is a 400
	}
	pm, ok := s.paymentMethod(id)
	if !ok {
		st, b := notFound("payment_method", id, "payment_method")
		return nil, st, b
	}
	switch {
	case pm.origin != "" && pm.ID == pm.origin: // a test payment method: attach a copy
		cp := *pm
		cp.ID, cp.Metadata = newID("pm"), map[string]string{}
		pm = &cp
	case pm.Customer != nil && *pm.Customer == customer:
		return pm, http.StatusOK, nil
	case pm.Customer != nil:
		st, b := badParam("payment_method", "The payment method you provided has already been attached to a customer.")
		return nil, st, b
	}
	pm.Customer = ptr(customer)
	s.pms[pm.ID] = pm
	s.emitLocked("payment_method.attached", *pm)
	return pm, http.StatusOK, nil
}
