// Package providers holds the adapters that screening needs and that do
// I/O: SMS for phone verification (a logging development sender and
// Twilio) and credit checks (the rule-based default and a generic JSON
// provider), plus verification code generation. Errors from HTTP adapters
// are *Error values that say whether a retry can help, so that a Temporal
// activity can mark a permanent failure non-retryable.
package providers
