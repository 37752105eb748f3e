package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v84"
)

// Charge implements Gateway.
func (s *Stripe) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	p := &stripe.PaymentIntentCreateParams{
		Amount:        stripe.Int64(req.AmountMinor),
		Currency:      stripe.String(strings.ToLower(req.Currency)),
		Customer:      stripe.String(req.GatewayCustomerID),
		PaymentMethod: stripe.String(req.PaymentMethodID),
		// Cards only: with the account's automatic payment methods, a
		// confirm=true request would also need a return_url for redirects.
		PaymentMethodTypes: []*string{stripe.String("card")},
		Confirm:            stripe.Bool(true),
		OffSession:         stripe.Bool(true),
		Description:        nonEmpty(req.Description),
	}
	p.AddMetadata(MetaCustomerID, req.CustomerID)
	p.AddMetadata(MetaInvoiceID, req.InvoiceID)
	p.AddMetadata(MetaAttempt, strconv.Itoa(req.Attempt))
	p.AddMetadata(MetaAttemptKey, req.IdempotencyKey)
	setKey(&p.Params, req.IdempotencyKey)
	pi, err := s.sc.V1PaymentIntents.Create(ctx, p)
	if err != nil {
		if res, ok := cardFailure(err); ok {
			return res, nil
		}
		return ChargeResult{}, failure(err)
	}
	res, ok := resultOf(pi, nil)
	if !ok {
		return ChargeResult{}, unexpected(pi)
	}
	return res, nil
}

// FindCharge implements Gateway. It lists the customer's PaymentIntents
// rather than searching them: the list is strongly consistent, search
// lags writes by up to a minute, which is when an attempt is looked for.
func (s *Stripe) FindCharge(ctx context.Context, req ChargeRequest) (ChargeResult, bool, error) {
	p := &stripe.PaymentIntentListParams{Customer: nonEmpty(req.GatewayCustomerID)}
	p.Limit = stripe.Int64(100)
	for pi, err := range s.sc.V1PaymentIntents.List(ctx, p) {
		if err != nil {
			return ChargeResult{}, false, failure(err)
		}
		if pi.Metadata[MetaAttemptKey] != req.IdempotencyKey {
			continue
		}
		var lpe *rawError
		if pi.LastPaymentError != nil {
			// stripe.Error has no advice codes: read them from the JSON.
			full, err := s.sc.V1PaymentIntents.Retrieve(ctx, pi.ID, nil)
			if err != nil {
				return ChargeResult{}, false, failure(err)
			}
			pi, lpe = full, lastPaymentError(full)
		}
		res, ok := resultOf(pi, lpe)
		if !ok {
			return ChargeResult{}, true, unexpected(pi)
		}
		return res, true, nil
	}
	return ChargeResult{}, false, nil
}

// resultOf maps a PaymentIntent's status; false for a status an off-session
// confirm should never leave (requires_confirmation, requires_capture, ...).
func resultOf(pi *stripe.PaymentIntent, lpe *rawError) (ChargeResult, bool) {
	res := ChargeResult{PaymentIntentID: pi.ID, Currency: strings.ToUpper(string(pi.Currency))}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		res.Outcome, res.AmountMinor = OutcomeSucceeded, pi.AmountReceived
	case stripe.PaymentIntentStatusProcessing:
		res.Outcome = OutcomeProcessing
	case stripe.PaymentIntentStatusRequiresAction:
		res.Outcome, res.Code = OutcomeRequiresAction, string(stripe.ErrorCodeAuthenticationRequired)
	case stripe.PaymentIntentStatusCanceled:
		res.Outcome, res.Code = OutcomeDeclined, "canceled"
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		if pi.LastPaymentError == nil {
			return res, false
		}
		e := pi.LastPaymentError
		res.Outcome, res.Code, res.DeclineCode, res.Message = OutcomeDeclined, string(e.Code), string(e.DeclineCode), e.Msg
		if lpe != nil {
			res.AdviceCode, res.NetworkAdviceCode = lpe.AdviceCode, lpe.NetworkAdviceCode
		}
		if e.Code == stripe.ErrorCodeAuthenticationRequired {
			res.Outcome = OutcomeRequiresAction
		}
	default:
		return res, false
	}
	return res, true
}

// cardFailure maps a 402 card_error (a decline, or authentication the
// customer must give) to a result.
func cardFailure(err error) (ChargeResult, bool) {
	var se *stripe.Error
	if !errors.As(err, &se) || se.Type != stripe.ErrorTypeCard {
		return ChargeResult{}, false
	}
	res := ChargeResult{
		Outcome:     OutcomeDeclined,
		Code:        string(se.Code),
		DeclineCode: string(se.DeclineCode),
		Message:     se.Msg,
	}
	if raw := rawErrorOf(se); raw != nil {
		res.AdviceCode, res.NetworkAdviceCode = raw.AdviceCode, raw.NetworkAdviceCode
	}
	if pi := se.PaymentIntent; pi != nil {
		res.PaymentIntentID, res.Currency = pi.ID, strings.ToUpper(string(pi.Currency))
		if pi.Status == stripe.PaymentIntentStatusRequiresAction {
			res.Outcome = OutcomeRequiresAction
		}
	}
	if se.Code == stripe.ErrorCodeAuthenticationRequired {
		res.Outcome = OutcomeRequiresAction
	}
	return res, true
}

// rawError holds the error fields stripe.Error (v84) does not decode.
type rawError struct {
	AdviceCode        string `json:"advice_code"`
	NetworkAdviceCode string `json:"network_advice_code"`
}

func rawErrorOf(se *stripe.Error) *rawError {
	if se.LastResponse == nil {
		return nil
	}
	var body struct {
		Error rawError `json:"error"`
	}
	if json.Unmarshal(se.LastResponse.RawJSON, &body) != nil {
		return nil
	}
	return &body.Error
}

func lastPaymentError(pi *stripe.PaymentIntent) *rawError {
	if pi.LastResponse == nil {
		return nil
	}
	var body struct {
		LastPaymentError *rawError `json:"last_payment_error"`
	}
	if json.Unmarshal(pi.LastResponse.RawJSON, &body) != nil {
		return nil
	}
	return body.LastPaymentError
}

func unexpected(pi *stripe.PaymentIntent) error {
	return &Error{Status: 200, Code: "unexpected_status", Message: "PaymentIntent " + pi.ID + " is " + string(pi.Status)}
}
