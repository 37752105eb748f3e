package stripefake

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// payPath is where the hosted pay pages live: payPath + session ID.
const payPath = "/pay/"

func (s *Server) createSession(f url.Values) (int, any) {
	if f.Get("mode") != "payment" {
		return badParam("mode", "The fake supports mode=payment only.")
	}
	const item = "line_items[0]"
	amount, err := strconv.ParseInt(f.Get(item+"[price_data][unit_amount]"), 10, 64)
	if err != nil || amount < 1 {
		return badParam(item+"[price_data][unit_amount]", "Invalid positive integer")
	}
	if q := f.Get(item + "[quantity]"); q != "1" {
		return badParam(item+"[quantity]", "The fake supports quantity 1 only.")
	}
	if f.Get("success_url") == "" {
		return badParam("success_url", "Missing required param: success_url.")
	}
	now := time.Now()
	expires := now.Add(24 * time.Hour).Unix()
	if v := f.Get("expires_at"); v != "" {
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil || t < now.Add(30*time.Minute).Unix()-5 || t > now.Add(24*time.Hour).Unix()+5 {
			return badParam("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.")
		}
		expires = t
	}
	cs := &Session{
		ID: newID("cs_test"), Object: "checkout.session", Mode: "payment", Status: "open", PaymentStatus: "unpaid",
		AmountTotal: amount, Currency: f.Get(item + "[price_data][currency]"), SuccessURL: f.Get("success_url"),
		ExpiresAt: expires, Created: now.Unix(), Metadata: metadata(f, "metadata"),
		ProductName: f.Get(item + "[price_data][product_data][name]"),
		PIMetadata:  metadata(f, "payment_intent_data[metadata]"),
		SaveCard:    f.Get("payment_intent_data[setup_future_usage]") != "",
	}
	cs.URL = ptr(s.URL() + payPath + cs.ID)
	for field, dst := range map[string]**string{"customer": &cs.Customer, "customer_email": &cs.CustomerEmail, "locale": &cs.Locale, "cancel_url": &cs.CancelURL} {
		if v := f.Get(field); v != "" {
			*dst = ptr(v)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs.Customer != nil {
		if _, ok := s.customers[*cs.Customer]; !ok {
			_, b := notFound("customer", *cs.Customer, "customer")
			return http.StatusBadRequest, b
		}
	}
	s.sessions = append(s.sessions, cs)
	return http.StatusOK, *cs
}

// findSession finds a session, expiring it when its time is up. The
// caller holds s.mu.
func (s *Server) findSession(id string) *Session {
	for _, cs := range s.sessions {
		if cs.ID == id {
			if cs.Status == "open" && time.Now().Unix() >= cs.ExpiresAt {
				cs.Status, cs.URL = "expired", nil
			}
			return cs
		}
	}
	return nil
}

func (s *Server) getSession(id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.findSession(id); cs != nil {
		return http.StatusOK, *cs
	}
	return notFound("checkout.session", id, "session")
}

// ErrDeclined is returned by PayCheckout when the card is declined (the
// hosted page would ask for another card; the session stays open).
var ErrDeclined = errors.New("stripefake: card declined")

// PayCheckout is the customer paying on the hosted page: a PaymentIntent
// with the session's payment_intent_data metadata succeeds, the session is
// complete and paid, and checkout.session.completed and
// payment_intent.succeeded are sent. With a customer on the session the
// card is saved to it (payment_method.attached first).
func (s *Server) PayCheckout(sessionID, paymentMethodID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.findSession(sessionID)
	if cs == nil {
		return "", fmt.Errorf("stripefake: no session %s", sessionID)
	}
	if cs.Status != "open" {
		return "", fmt.Errorf("stripefake: session %s is %s", sessionID, cs.Status)
	}
	pm, ok := s.paymentMethod(paymentMethodID)
	if !ok {
		return "", fmt.Errorf("stripefake: no payment method %s", paymentMethodID)
	}
	pi := &PaymentIntent{
		ID: newID("pi"), Object: "payment_intent", Amount: cs.AmountTotal, Currency: cs.Currency,
		Customer: cs.Customer, Status: "requires_confirmation", Metadata: copyMap(cs.PIMetadata), Created: time.Now().Unix(),
		CaptureMethod: "automatic", ConfirmationMethod: "automatic", PaymentMethodTypes: []string{"card"},
	}
	pi.ClientSecret = pi.ID + "_secret_" + newID("s")[2:]
	if cs.Customer != nil && cs.SaveCard {
		pi.SetupFutureUsage = ptr("off_session")
		if pm.Customer == nil || *pm.Customer != *cs.Customer {
			attached, _, _ := s.attachLocked(pm.ID, *cs.Customer)
			if attached == nil {
				return "", fmt.Errorf("stripefake: cannot save %s for %s", pm.ID, *cs.Customer)
			}
			pm = attached
		}
	}
	pi.PaymentMethod = ptr(pm.ID)
	s.pis = append(s.pis, pi)
	if e := s.chargeLocked(pi, pm, ""); e != nil {
		s.emitLocked("payment_intent.payment_failed", *pi)
		return pi.ID, fmt.Errorf("%w: %s/%s", ErrDeclined, e.Code, e.DeclineCode)
	}
	cs.Status, cs.PaymentStatus, cs.PaymentIntent = "complete", "paid", ptr(pi.ID)
	s.emitLocked("checkout.session.completed", *cs)
	s.emitLocked("payment_intent.succeeded", *pi)
	return pi.ID, nil
}

var payPage = template.Must(template.New("pay").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Pay {{.Name}}</title></head>
<body style="font-family:sans-serif;max-width:30em;margin:3em auto">
<h1>{{.Name}}</h1>
<p>Amount: <b>{{.Amount}} {{.Currency}}</b></p>
{{if eq .Status "open"}}<form method="post"><p>Card: 4242 4242 4242 4242 (test)</p><button type="submit">Pay</button></form>
{{else}}<p>This session is {{.Status}}.</p>{{end}}
</body></html>`))

// servePayPage is the hosted page: GET shows the amount and a form, POST
// pays with pm_card_visa and redirects to the success URL.
func (s *Server) servePayPage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, payPath)
	s.mu.Lock()
	cs := s.findSession(id)
	var view Session
	if cs != nil {
		view = *cs
	}
	s.mu.Unlock()
	if cs == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodPost {
		if _, err := s.PayCheckout(id, PMVisa); err != nil {
			http.Error(w, err.Error(), http.StatusPaymentRequired)
			return
		}
		http.Redirect(w, r, strings.ReplaceAll(view.SuccessURL, "{CHECKOUT_SESSION_ID}", id), http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = payPage.Execute(w, map[string]any{
		"Name": view.ProductName, "Amount": formatAmount(view.AmountTotal, view.Currency), "Currency": strings.ToUpper(view.Currency), "Status": view.Status,
	})
}

// formatAmount shows minor units as the currency's major units.
func formatAmount(minor int64, currency string) string {
	switch strings.ToLower(currency) {
	case "krw", "jpy", "vnd", "clp", "isk", "twd":
		return strconv.FormatInt(minor, 10)
	}
	return fmt.Sprintf("%d.%02d", minor/100, minor%100)
}
