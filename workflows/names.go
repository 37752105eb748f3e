// Package workflows holds CustomerLifecycle, the long-running workflow that
// owns one customer's state machine. It drives the pure account package with
// workflow time and records every change through activities.
package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/contract"
)

// Public names: integrators and billing tools rely on these.
const (
	WorkflowType     = "CustomerLifecycle"
	DefaultTaskQueue = "dunning"
)

// The queries, updates and signal of CustomerLifecycle, each declared once
// with its request and result types. The workflow registers its handlers
// through them and every caller (ops, the API, the CLI, the demo,
// reconciliation, the SendGrid webhook) calls through them, so a wrong
// payload type does not compile.
var (
	QueryGetStatus = contract.Query[account.StatusView]{Name: "GetStatus"}
	// QueryGetLedger is for reconciliation: the account's figures as
	// PostgreSQL should mirror them.
	QueryGetLedger = contract.Query[account.Ledger]{Name: "GetLedger"}

	UpdateRecordPayment  = contract.Update[account.Payment, account.PaymentResult]{Name: "RecordPayment"}
	UpdateSuspend        = contract.Update[account.StaffAction, account.StatusView]{Name: "Suspend"}
	UpdateReinstate      = contract.Update[account.StaffAction, account.StatusView]{Name: "Reinstate"}
	UpdateTerminate      = contract.Update[account.StaffAction, account.StatusView]{Name: "Terminate"}
	UpdatePromiseToPay   = contract.Update[account.Promise, account.StatusView]{Name: "PromiseToPay"}
	UpdateDisputeInvoice = contract.Update[account.Dispute, account.StatusView]{Name: "DisputeInvoice"}
	UpdateResolveDispute = contract.Update[account.Resolution, account.StatusView]{Name: "ResolveDispute"}
	UpdateWriteOff       = contract.Update[account.InvoiceAction, account.StatusView]{Name: "WriteOff"}
	// UpdateChangePolicy moves the customer to another policy version
	// deliberately (the policy lab); running customers otherwise keep
	// theirs.
	UpdateChangePolicy = contract.Update[account.PolicyChange, account.StatusView]{Name: "ChangePolicy"}

	// Collecting through the payment gateway.
	UpdateSetPaymentMethod = contract.Update[account.CardUpdate, account.StatusView]{Name: "SetPaymentMethod"}
	UpdateRecordChargeback = contract.Update[account.Chargeback, account.StatusView]{Name: "RecordChargeback"}
	UpdateCloseChargeback  = contract.Update[account.ChargebackClosure, account.StatusView]{Name: "CloseChargeback"}

	// Risk and misuse.
	UpdateVerifyPhone      = contract.Update[account.PhoneCode, account.StatusView]{Name: "VerifyPhone"}
	UpdateRequestPhoneCode = contract.Update[account.CodeRequest, account.StatusView]{Name: "RequestPhoneCode"}
	UpdateReportAbuse      = contract.Update[account.AbuseReport, account.StatusView]{Name: "ReportAbuse"}
	UpdateReviewDecision   = contract.Update[account.Decision, account.StatusView]{Name: "ReviewDecision"}
	UpdateSetBudget        = contract.Update[account.Budget, account.StatusView]{Name: "SetBudget"}
	UpdateReportUsage      = contract.Update[account.Usage, account.StatusView]{Name: "ReportUsage"}
	// Subscriptions and account controls.
	UpdateAddSubscription    = contract.Update[account.SubscriptionSpec, account.StatusView]{Name: "AddSubscription"}
	UpdateChangeQuantity     = contract.Update[account.QuantityChange, account.StatusView]{Name: "ChangeQuantity"}
	UpdateCancelSubscription = contract.Update[account.Cancellation, account.StatusView]{Name: "CancelSubscription"}
	UpdateSetExemption       = contract.Update[account.ExemptionRequest, account.StatusView]{Name: "SetExemption"}
	UpdateRemoveExemption    = contract.Update[account.ExemptionRemoval, account.StatusView]{Name: "RemoveExemption"}

	// UpdateResync is for reconciliation: re-record the account's current
	// figures.
	UpdateResync = contract.Update[account.Resync, account.ResyncResult]{Name: "Resync"}

	// SignalEmailUndeliverable comes from the SendGrid event webhook when
	// an address bounces or drops.
	SignalEmailUndeliverable = contract.Signal[account.Bounce]{Name: "EmailUndeliverable"}
)

// versionLean marks runs that carry what they know across continue-as-new
// instead of writing it into history again: the decided versions (a lean run
// knows every change up to lean, so it calls no workflow.GetVersion for
// them, at its start or in a handler), the search attributes last upserted
// (they carry over with the run, so only changes are upserted) and the
// policy (by ID and content hash); a run waiting only to continue as new
// starts no wake timer, and its effect coroutines run only while they have
// work. Runs without the marker replay the old way.
const versionLean = "lean"

// leanLevel is the level a lean run carries in Input.Lean. A later change
// that a run can decide once and carry bumps it: runs at a level at or
// above the change's skip its GetVersion.
const leanLevel = 1

// WorkflowID is the workflow ID of a customer's lifecycle.
func WorkflowID(customerID string) string { return "customer-" + customerID }

// Search attributes, registered by the worker when missing.
var (
	AttrCustomerID    = temporal.NewSearchAttributeKeyKeyword("CustomerId")
	AttrAccountStatus = temporal.NewSearchAttributeKeyKeyword("AccountStatus")
	AttrDunningStage  = temporal.NewSearchAttributeKeyKeyword("DunningStage")
	AttrRiskTier      = temporal.NewSearchAttributeKeyKeyword("RiskTier")
	AttrAmountOverdue = temporal.NewSearchAttributeKeyInt64("AmountOverdue")
	AttrDaysPastDue   = temporal.NewSearchAttributeKeyInt64("DaysPastDue")
	// AttrProvisioningState is "failing" while the provisioning system
	// refuses or does not answer a decided change, else "ok".
	AttrProvisioningState = temporal.NewSearchAttributeKeyKeyword("ProvisioningState")
	// AttrExemptions lists the exemptions in force (enforcement_off,
	// no_dunning, manual_pay); unset when there are none.
	AttrExemptions = temporal.NewSearchAttributeKeyKeywordList("Exemptions")
)

// ProvisioningState values.
const (
	ProvisioningOK      = "ok"
	ProvisioningFailing = "failing"
)

// searchAttributes are the keys above: each search attribute is declared
// once, with its type, and everything else derives from the key.
var searchAttributes = []temporal.SearchAttributeKey{AttrCustomerID, AttrAccountStatus, AttrDunningStage,
	AttrRiskTier, AttrAmountOverdue, AttrDaysPastDue, AttrProvisioningState, AttrExemptions}

// SearchAttributeTypes gives each search attribute's indexed type, for
// registration.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	out := make(map[string]enumspb.IndexedValueType, len(searchAttributes))
	for _, k := range searchAttributes {
		out[k.GetName()] = k.GetValueType()
	}
	return out
}

// SearchAttributes lists them with their types as the public contract (and
// the Temporal CLI) names them: "Keyword" or "Int".
func SearchAttributes() map[string]string {
	names := map[enumspb.IndexedValueType]string{enumspb.INDEXED_VALUE_TYPE_KEYWORD: "Keyword", enumspb.INDEXED_VALUE_TYPE_INT: "Int",
		enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList"}
	out := make(map[string]string, len(searchAttributes))
	for name, typ := range SearchAttributeTypes() {
		out[name] = names[typ]
	}
	return out
}
