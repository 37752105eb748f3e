package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v84"
)

// Stripe implements Gateway on stripe-go.
type Stripe struct {
	sc *stripe.Client
}

var _ Gateway = (*Stripe)(nil)

// defaultTimeout bounds one request when the caller gives no client; the
// activity's own deadline (through ctx) is usually shorter.
const defaultTimeout = 30 * time.Second

// NewStripe makes the adapter. apiBase is https://api.stripe.com or a local
// fake's URL (empty: Stripe's); a nil httpClient gets a client with timeouts.
func NewStripe(apiKey, apiBase string, httpClient *http.Client) *Stripe {
	if httpClient == nil {
		httpClient = &http.Client{
			Timeout: defaultTimeout,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: defaultTimeout,
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConnsPerHost:   4,
			},
		}
	}
	if apiBase == "" {
		apiBase = stripe.APIURL
	}
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		HTTPClient: httpClient,
		URL:        stripe.String(apiBase),
		// No retries inside the client: a Temporal activity retries the
		// whole call with the same idempotency key, under its own policy
		// and deadline, and the history then shows every attempt.
		MaxNetworkRetries: stripe.Int64(0),
		// Errors are returned (as *Error), and the activity logs them.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &Stripe{sc: stripe.NewClient(apiKey, stripe.WithBackends(backends))}
}

// Name implements Gateway.
func (s *Stripe) Name() string { return "stripe" }

// EnsureCustomer implements Gateway.
func (s *Stripe) EnsureCustomer(ctx context.Context, c Customer) (string, error) {
	p := &stripe.CustomerCreateParams{Name: nonEmpty(c.Name), Email: nonEmpty(c.Email)}
	p.AddMetadata(MetaCustomerID, c.CustomerID)
	setKey(&p.Params, c.IdempotencyKey)
	cus, err := s.sc.V1Customers.Create(ctx, p)
	if err != nil {
		return "", failure(err)
	}
	return cus.ID, nil
}

// AttachCard implements Gateway. Stripe's test payment methods
// (pm_card_visa, ...) are copied on attach: the returned card's
// PaymentMethodID is then the copy's, which is the one to charge.
func (s *Stripe) AttachCard(ctx context.Context, gatewayCustomerID, paymentMethodID string) (Card, error) {
	pm, err := s.sc.V1PaymentMethods.Retrieve(ctx, paymentMethodID, nil)
	if err != nil {
		return Card{}, failure(err)
	}
	if pm.Customer == nil || pm.Customer.ID != gatewayCustomerID {
		p := &stripe.PaymentMethodAttachParams{Customer: stripe.String(gatewayCustomerID)}
		setKey(&p.Params, "attach:"+gatewayCustomerID+":"+paymentMethodID)
		if pm, err = s.sc.V1PaymentMethods.Attach(ctx, paymentMethodID, p); err != nil {
			return Card{}, failure(err)
		}
	}
	up := &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{
		DefaultPaymentMethod: stripe.String(pm.ID),
	}}
	setKey(&up.Params, "default-pm:"+gatewayCustomerID+":"+pm.ID)
	if _, err := s.sc.V1Customers.Update(ctx, gatewayCustomerID, up); err != nil {
		return Card{}, failure(err)
	}
	card := Card{PaymentMethodID: pm.ID, GatewayCustomerID: gatewayCustomerID}
	if c := pm.Card; c != nil {
		card.Brand = string(c.Brand)
		card.Last4 = c.Last4
		card.ExpMonth = int(c.ExpMonth)
		card.ExpYear = int(c.ExpYear)
		card.Fingerprint = c.Fingerprint
		card.Funding = string(c.Funding)
	}
	return card, nil
}

// CreateCheckout implements Gateway.
func (s *Stripe) CreateCheckout(ctx context.Context, req CheckoutRequest) (CheckoutSession, error) {
	p := &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String(string(stripe.CheckoutSessionModePayment)),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(strings.ToLower(req.Currency)),
				UnitAmount:  stripe.Int64(req.AmountMinor),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Invoice " + req.InvoiceID)},
			},
			Quantity: stripe.Int64(1),
		}},
		SuccessURL:        nonEmpty(req.SuccessURL),
		CancelURL:         nonEmpty(req.CancelURL),
		Locale:            nonEmpty(strings.ToLower(req.Locale)),
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{},
	}
	if req.GatewayCustomerID != "" {
		// The page pays this invoice only: it does not save the card
		// (setup_future_usage), whose payment_method.attached would put
		// it on file and charge it for the invoice being paid here, racing
		// the checkout's own payment. A new card is SetPaymentMethod's.
		p.Customer = stripe.String(req.GatewayCustomerID)
	} else {
		p.CustomerEmail = nonEmpty(req.Email)
	}
	if !req.ExpiresAt.IsZero() {
		p.ExpiresAt = stripe.Int64(req.ExpiresAt.Unix())
	}
	for k, v := range map[string]string{MetaCustomerID: req.CustomerID, MetaInvoiceID: req.InvoiceID} {
		p.AddMetadata(k, v)
		p.PaymentIntentData.AddMetadata(k, v)
	}
	setKey(&p.Params, req.IdempotencyKey)
	cs, err := s.sc.V1CheckoutSessions.Create(ctx, p)
	if err != nil {
		return CheckoutSession{}, failure(err)
	}
	return CheckoutSession{ID: cs.ID, URL: cs.URL, ExpiresAt: time.Unix(cs.ExpiresAt, 0).UTC()}, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// setKey sets an idempotency key; none is sent for an empty one (Stripe
// refuses an empty Idempotency-Key header).
func setKey(p *stripe.Params, key string) {
	if key != "" {
		p.SetIdempotencyKey(key)
	}
}
