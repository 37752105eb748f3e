package metrics

// Figures are the business figures one scrape exports, as read from the
// system of record. Amounts are minor units with their currency; the
// collector turns them into major units.
type Figures struct {
	Customers      []CustomerCount
	Receivables    []Receivable
	Messages       []MessageCount
	Deliveries     []DeliveryCount
	EmailEvents    []EmailEventCount
	Provisioning   []ProvisioningCount
	Payments       []PaymentSum
	Reviews        []ReviewCount
	MonitoringHits []HitCount
	Recovery       []Recovery
}

// CustomerCount is the number of customers in an account status and
// dunning stage.
type CustomerCount struct {
	Status, Stage string
	Count         int64
}

// Receivable is the open receivables of one currency in one aging bucket
// (reports.BucketNames).
type Receivable struct {
	Currency, Bucket string
	Invoices         int64
	Minor            int64
}

// MessageCount is the number of outbox messages (emails and SMS) of a
// channel and stage in an outbox status (pending, sending, sent, logged,
// failed, unconfirmed).
type MessageCount struct {
	Channel, Stage, Status string
	Count                  int64
}

// DeliveryCount is the number of emails of a stage whose latest delivery
// status reported by SendGrid's event webhook is Status (delivered, bounce,
// dropped, ...).
type DeliveryCount struct {
	Stage, Status string
	Count         int64
}

// EmailEventCount is the number of SendGrid events of a kind recorded for
// emails of a stage ("" when the event named no stage).
type EmailEventCount struct {
	Stage, Event string
	Count        int64
}

// ProvisioningCount is the number of provisioning events of a type
// (provisioning.failed, .escalated, .recovered) in the audit log.
type ProvisioningCount struct {
	Event string
	Count int64
}

// PaymentSum is the payments recorded with a method in a currency.
type PaymentSum struct {
	Method, Currency string
	Count            int64
	Minor            int64
}

// ReviewCount is the open reviews of a kind (onboarding, misuse) and how
// many of them are past their deadline.
type ReviewCount struct {
	Kind          string
	Open, Overdue int64
}

// HitCount is the number of activity-monitoring hits of a rule and
// severity.
type HitCount struct {
	Rule, Severity string
	Count          int64
}

// Recovery is, for the invoices of one currency due in the recovery
// window, what was at risk and what each source brought back
// (reports.RecoverySources).
type Recovery struct {
	Currency       string
	AtRiskMinor    int64
	RecoveredMinor map[string]int64 // by source
}
