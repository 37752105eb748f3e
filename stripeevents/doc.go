// Package stripeevents receives Stripe's webhook events: card payments
// (payment_intent.succeeded, checkout.session.completed), cards saved at
// Stripe (payment_method.attached) and chargebacks (charge.dispute.created,
// charge.dispute.closed). It records every event once in gateway_events and
// hands each to the customer's workflow as its update (RecordPayment,
// SetPaymentMethod, RecordChargeback, CloseChargeback) through a Notifier.
//
// # Configuring Stripe
//
//  1. Developers → Webhooks: add an endpoint whose URL is this handler
//     (POST /webhooks/stripe, over HTTPS) and select at least the five
//     events above (payment_intent.payment_failed may be selected too: it
//     is recorded, not acted on).
//  2. Copy the endpoint's signing secret (whsec_...) into
//     STRIPE_WEBHOOK_SECRET. Without it the endpoint is not served.
//
// Every request must carry a Stripe-Signature header (HMAC-SHA256 of
// "<t>.<body>" under the signing secret) whose timestamp is within the
// tolerance (5 minutes by default): a replayed delivery is refused, and one
// replayed within the tolerance changes nothing because events are keyed
// by their evt_ ID.
//
// Stripe redelivers an event not answered with 2xx for up to three days, so
// the handler answers 500 when the database or the workflow could not be
// reached, and leaves the event pending; ProcessPending retries pending
// events in the background, oldest first. A refusal by the workflow, an
// unknown customer or payment, or an ended lifecycle is final: the event is
// processed with an outcome that says so.
package stripeevents

// AuditActor is the actor of the changes made on Stripe's word.
const AuditActor = "stripe"
