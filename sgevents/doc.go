// Package sgevents receives SendGrid's Event Webhook: the delivery events
// (processed, delivered, deferred, bounce, dropped, spamreport, open, ...)
// of the mail the dunning system sends. It records every event once, keeps
// the latest delivery status of each outbox message, marks a customer's
// address undeliverable on a hard bounce, a drop or a spam report, and tells
// a Notifier (the worker signals the customer's workflow, which alerts staff).
//
// # Configuring SendGrid
//
//  1. Settings → Mail Settings → Event Webhooks: create a webhook whose POST
//     URL is this handler (served over HTTPS), and tick the delivery and
//     engagement events wanted (at least processed, delivered, deferred,
//     bounced, dropped, spam reports).
//  2. Turn on "Signed Event Webhook Requests" (Security features → Enable
//     Signed Webhook) and copy the verification key SendGrid shows: a base64
//     DER (PKIX) ECDSA P-256 public key.
//  3. Give that key to the worker in SENDGRID_WEBHOOK_PUBLIC_KEY
//     (PublicKeyEnv). It is not a secret, but without it the endpoint must
//     not be served: unsigned events could mark customers undeliverable.
//
// Every request must carry X-Twilio-Email-Event-Webhook-Signature and
// X-Twilio-Email-Event-Webhook-Timestamp; the signature is ECDSA over
// SHA-256(timestamp + raw body). Requests older or newer than MaxAge are
// refused, and an accepted request replayed within MaxAge changes nothing
// because events are keyed by sg_event_id.
//
// SendGrid retries a batch that is not answered with 2xx, so the handler
// answers 500 when the database or the Notifier fails, and the retry is
// recorded once and notifies once.
package sgevents

// PublicKeyEnv is the environment variable that carries SendGrid's
// verification key (base64, as the SendGrid console shows it).
const PublicKeyEnv = "SENDGRID_WEBHOOK_PUBLIC_KEY"
