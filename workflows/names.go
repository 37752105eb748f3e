// Package workflows holds CustomerLifecycle, the long-running workflow that
// owns one customer's state machine. It drives the pure account package with
// workflow time and records every change through activities.
package workflows

import "go.temporal.io/sdk/temporal"

// Public names: integrators and billing tools rely on these.
const (
	WorkflowType     = "CustomerLifecycle"
	DefaultTaskQueue = "dunning"

	QueryGetStatus = "GetStatus"
	QueryGetLedger = "GetLedger" // reconciliation: the account's figures as PostgreSQL should mirror them

	UpdateRecordPayment  = "RecordPayment"
	UpdateSuspend        = "Suspend"
	UpdateReinstate      = "Reinstate"
	UpdateTerminate      = "Terminate"
	UpdatePromiseToPay   = "PromiseToPay"
	UpdateDisputeInvoice = "DisputeInvoice"
	UpdateResolveDispute = "ResolveDispute"
	UpdateWriteOff       = "WriteOff"

	// Risk and misuse.
	UpdateVerifyPhone      = "VerifyPhone"
	UpdateRequestPhoneCode = "RequestPhoneCode"
	UpdateReportAbuse      = "ReportAbuse"
	UpdateReviewDecision   = "ReviewDecision"
	UpdateSetBudget        = "SetBudget"
	UpdateReportUsage      = "ReportUsage"
	UpdateResync           = "Resync" // reconciliation: re-record the account's current figures

	// SignalEmailUndeliverable comes from the SendGrid event webhook when
	// an address bounces or drops.
	SignalEmailUndeliverable = "EmailUndeliverable"
)

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
)

// ProvisioningState values.
const (
	ProvisioningOK      = "ok"
	ProvisioningFailing = "failing"
)

// SearchAttributes lists them with their types, for registration.
func SearchAttributes() map[string]string {
	return map[string]string{
		"CustomerId": "Keyword", "AccountStatus": "Keyword", "DunningStage": "Keyword",
		"RiskTier": "Keyword", "AmountOverdue": "Int", "DaysPastDue": "Int", "ProvisioningState": "Keyword",
	}
}
