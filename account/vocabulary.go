package account

import (
	"time"

	"github.com/example/dunning/policy"
)

// The vocabulary: every domain word that travels as a string (in events,
// history, the audit log, the API) is a named type with its constants here,
// and every package compares against these constants, never a literal.

// EventType names a recorded change ("invoice.issued", "dunning.overdue_1").
// It is the audit log's event_type.
type EventType string

// Event types. Dunning steps are DunningEvent(stage); closed invoices are
// InvoiceEvent(status).
const (
	EventAccountActivated        EventType = "account.activated"
	EventAccountCancelled        EventType = "account.cancelled"
	EventAccountOpened           EventType = "account.opened"
	EventAccountReinstated       EventType = "account.reinstated"
	EventAccountResynced         EventType = "account.resynced"
	EventAccountStatusChanged    EventType = "account.status_changed"
	EventAccountSuspended        EventType = "account.suspended"
	EventAccountTerminated       EventType = "account.terminated"
	EventApplicationRejected     EventType = "application.rejected"
	EventBudgetSet               EventType = "budget.set"
	EventBudgetThreshold         EventType = "budget.threshold"
	EventDisputeOpened           EventType = "dispute.opened"
	EventDisputeResolved         EventType = "dispute.resolved"
	EventDunningSkipped          EventType = "dunning.skipped"
	EventEmailFailed             EventType = "email.failed"
	EventEmailUndeliverable      EventType = "email.undeliverable"
	EventInvoiceIssued           EventType = "invoice.issued"
	EventInvoiceResynced         EventType = "invoice.resynced"
	EventInvoiceSkipped          EventType = "invoice.skipped"
	EventInvoicePaid             EventType = "invoice.paid"
	EventInvoiceVoid             EventType = "invoice.void"
	EventInvoiceWrittenOff       EventType = "invoice.written_off"
	EventPaymentReconciled       EventType = "payment.reconciled"
	EventPaymentRecorded         EventType = "payment.recorded"
	EventPhoneCodeRejected       EventType = "phone.code_rejected"
	EventPhoneCodeSent           EventType = "phone.code_sent"
	EventPhoneVerified           EventType = "phone.verified"
	EventPrepaymentReminded      EventType = "prepayment.reminded"
	EventPrepaymentRequested     EventType = "prepayment.requested"
	EventPromiseBroken           EventType = "promise.broken"
	EventPromiseMade             EventType = "promise.made"
	EventProvisioningEscalated   EventType = "provisioning.escalated"
	EventProvisioningFailed      EventType = "provisioning.failed"
	EventProvisioningRecovered   EventType = "provisioning.recovered"
	EventReviewClosed            EventType = "review.closed"
	EventReviewDecided           EventType = "review.decided"
	EventReviewLapsed            EventType = "review.lapsed"
	EventReviewOpened            EventType = "review.opened"
	EventScreeningDecided        EventType = "screening.decided"
	EventStaffAlerted            EventType = "staff.alerted"
	EventSuspensionLifted        EventType = "suspension.lifted"
	EventUsageRecorded           EventType = "usage.recorded"
	EventAbuseReported           EventType = "abuse.reported"
	EventEnforcementAcknowledged EventType = "enforcement.acknowledged"
	EventChargeRequested         EventType = "charge.requested"
	EventCardUpdated             EventType = "card.updated"
	EventCardRefused             EventType = "card.refused"
	EventChargebackOpened        EventType = "chargeback.opened"
	EventChargebackClosed        EventType = "chargeback.closed"
	// A deliberate move to another policy version (ChangePolicy), and
	// each open invoice's ladder re-anchored on the new one.
	EventPolicyChanged     EventType = "policy.changed"
	EventInvoiceReanchored EventType = "invoice.reanchored"
	// Subscriptions and exemptions (workflow version subscriptions).
	EventSubscriptionAdded       EventType = "subscription.added"
	EventSubscriptionChanged     EventType = "subscription.quantity_changed"
	EventSubscriptionCancelling  EventType = "subscription.cancel_scheduled"
	EventSubscriptionCancelled   EventType = "subscription.cancelled"
	EventSubscriptionsSuspended  EventType = "subscription.suspended"
	EventSubscriptionsReinstated EventType = "subscription.reinstated"
	EventExemptionSet            EventType = "exemption.set"
	EventExemptionRemoved        EventType = "exemption.removed"
	EventExemptionExpired        EventType = "exemption.expired"
)

// ChargeEvent is the event type of a charge attempt's answer, e.g.
// "charge.succeeded", "charge.declined".
func ChargeEvent(outcome string) EventType { return EventType("charge." + outcome) }

// DunningEvent is the event type of a ladder step, e.g. "dunning.overdue_1".
func DunningEvent(stage string) EventType { return EventType("dunning." + stage) }

// InvoiceEvent is the event type of an invoice closing with status, e.g.
// "invoice.paid".
func InvoiceEvent(status InvoiceStatus) EventType { return EventType("invoice." + string(status)) }

// Outcome is what screening decides for an application.
type Outcome string

// Screening outcomes, from least to most severe.
const (
	OutcomeApprove           Outcome = "approve"            // low risk: service starts, no prepayment
	OutcomeApprovePrepayment Outcome = "approve_prepayment" // medium: a reserve is paid first
	OutcomeReview            Outcome = "review"             // high: a person decides
	OutcomeReject            Outcome = "reject"             // refused
)

// Severity says how fast a misuse report or an activity flag is acted on.
type Severity string

// Misuse severities.
const (
	SeveritySevere   Severity = "severe"   // suspend at once, then review
	SeverityModerate Severity = "moderate" // open a review
	SeverityMinor    Severity = "minor"    // warn the customer
)

// Severities lists them, most severe first.
func Severities() []Severity { return []Severity{SeveritySevere, SeverityModerate, SeverityMinor} }

// Valid reports whether s is one of the severities.
func (s Severity) Valid() bool {
	return s == SeveritySevere || s == SeverityModerate || s == SeverityMinor
}

// reviewWindow is the time the policy allows for a misuse review of a
// severity.
func reviewWindow(r policy.Reviews, s Severity) time.Duration {
	switch s {
	case SeveritySevere:
		return r.Severe
	case SeverityMinor:
		return r.Minor
	}
	return r.Moderate
}

// Suspends reports whether the severity suspends service at once.
func (s Severity) Suspends() bool { return s == SeveritySevere }

// InstrumentType is the kind of payment instrument an application names.
type InstrumentType string

// Payment instrument types, as in the public contract.
const (
	InstrumentCard         InstrumentType = "card"
	InstrumentPrepaidCard  InstrumentType = "prepaid_card"
	InstrumentStoredValue  InstrumentType = "stored_value"
	InstrumentBankTransfer InstrumentType = "bank_transfer"
)

// InstrumentTypes lists them.
func InstrumentTypes() []InstrumentType {
	return []InstrumentType{InstrumentCard, InstrumentPrepaidCard, InstrumentStoredValue, InstrumentBankTransfer}
}

// IsCard reports whether the instrument carries a card BIN.
func (t InstrumentType) IsCard() bool { return t == InstrumentCard || t == InstrumentPrepaidCard }

// Provision is a provisioning action on the customer's subscriptions: the
// provisioning webhook's "action".
type Provision string

// Provisioning actions.
const (
	ProvisionActivate   Provision = "activate"
	ProvisionFullAccess Provision = "grant_full_access"
	ProvisionSuspend    Provision = "suspend"
	ProvisionReinstate  Provision = "reinstate"
	ProvisionTerminate  Provision = "terminate"
	// ProvisionLimitAccess takes full access back to limited (a review
	// opened on a trusted account).
	ProvisionLimitAccess Provision = "limit_access"
	// Per-subscription actions name their subscriptions (ProvisionAction's
	// Subscriptions) and leave the rest of the account as it is.
	ProvisionActivateSubscriptions  Provision = "activate_subscriptions"
	ProvisionSuspendSubscriptions   Provision = "suspend_subscriptions"
	ProvisionReinstateSubscriptions Provision = "reinstate_subscriptions"
	ProvisionCancelSubscriptions    Provision = "cancel_subscriptions"
)

// EmailFailure is why a notice was not delivered: the Temporal error type
// the SendNotice activity fails with, or what the workflow found itself.
type EmailFailure string

// Email failure kinds.
const (
	EmailRefused     EmailFailure = "EmailRefused"     // SendGrid refused the message for good
	EmailUnconfirmed EmailFailure = "EmailUnconfirmed" // a send was cut off; not retried
	EmailTemplate    EmailFailure = "EmailTemplate"    // the message could not be rendered
	EmailNoChannel   EmailFailure = "no_channel"       // no channel left to reach the customer
	EmailError       EmailFailure = "error"            // any other failure
)

// Where a misuse report comes from (AbuseReport.Source).
const (
	SourceProvider   = "provider"   // the upstream provider's enforcement notice
	SourceMonitoring = "monitoring" // a monitoring rule's hit
	SourceComplaint  = "complaint"  // a complaint about the customer
	SourceStaff      = "staff"      // staff themselves
	SourceGateway    = "gateway"    // the payment gateway: a stolen card, a chargeback
)

// RiskTierHigh is the highest risk tier (risk.TierHigh): a lost chargeback
// puts the customer there.
const RiskTierHigh = "high"

// Misuse categories the payment gateway's signals open reviews under.
const (
	CategoryPaymentFraud = "payment_fraud" // a lost or stolen card, a fraudulent charge
	CategoryChargeback   = "chargeback"    // the customer's bank took a payment back
)

// Locales with translated emails.
const (
	LocaleEnglish = "en"
	LocaleKorean  = "ko"
)
