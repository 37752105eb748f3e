package account

import (
	"cmp"
	"maps"
	"slices"
)

// How many idempotency keys an account carries from one run to the next
// when its memory is bounded. A key older than these is looked up in
// PostgreSQL, the system of record, before it is applied again.
const (
	RememberedPayments = 200
	RememberedUsage    = 200
)

// KnownKey is what PostgreSQL holds for a caller's idempotency key.
type KnownKey struct {
	Found       bool   `json:"found"`
	AmountMinor int64  `json:"amount_minor,omitempty"`
	Currency    string `json:"currency,omitempty"`
}

// KnowsPayment reports whether the payment ID is in the account's memory.
func (a *Account) KnowsPayment(id string) bool { _, ok := a.Payments[id]; return ok }

// KnowsUsage reports whether the usage ID is in the account's memory.
func (a *Account) KnowsUsage(id string) bool { _, ok := a.Usage.IDs[id]; return ok }

// RememberPayment puts a payment that PostgreSQL already holds back into
// memory, so that RecordPayment treats it as the retry it is.
func (a *Account) RememberPayment(id string, k KnownKey) {
	if !k.Found || a.KnowsPayment(id) {
		return
	}
	if a.Payments == nil {
		a.Payments = map[string]PaymentRef{}
	}
	a.Payments[id] = PaymentRef{AmountMinor: k.AmountMinor, Currency: k.Currency, Seq: a.EventSeq}
}

// RememberUsage puts a usage report that PostgreSQL already holds back into
// memory, so that ReportUsage treats it as the retry it is.
func (a *Account) RememberUsage(id string, k KnownKey) {
	if !k.Found || a.KnowsUsage(id) {
		return
	}
	if a.Usage.IDs == nil {
		a.Usage.IDs = map[string]UsageRef{}
	}
	a.Usage.IDs[id] = UsageRef{AmountMinor: k.AmountMinor, Period: a.Usage.Period, Seq: a.EventSeq}
}

// Compact forgets all but the newest idempotency keys, so that what a run
// carries to the next stays bounded however long the customer lives. The
// workflow calls it only when every change is recorded, so a forgotten key
// is always found in PostgreSQL.
func (a *Account) Compact() {
	if !a.Durable {
		return
	}
	if len(a.Payments) > RememberedPayments {
		a.Payments = keepNewest(a.Payments, RememberedPayments, func(r PaymentRef) int { return r.Seq })
		a.ForgotPayments = true
	}
	if len(a.Usage.IDs) > RememberedUsage {
		a.Usage.IDs = keepNewest(a.Usage.IDs, RememberedUsage, func(r UsageRef) int { return r.Seq })
		a.ForgotUsage = true
	}
	a.retireSubscriptions()
}

// MayHaveForgottenPayment reports whether a payment ID the account does not
// know may still be in PostgreSQL: only once it has forgotten some. Until
// then a new ID needs no look-up.
func (a *Account) MayHaveForgottenPayment(id string) bool {
	return a.ForgotPayments && !a.KnowsPayment(id)
}

// MayHaveForgottenUsage is MayHaveForgottenPayment for usage IDs.
func (a *Account) MayHaveForgottenUsage(id string) bool { return a.ForgotUsage && !a.KnowsUsage(id) }

func keepNewest[V any](m map[string]V, n int, seq func(V) int) map[string]V {
	keys := slices.SortedFunc(maps.Keys(m), func(x, y string) int {
		if d := seq(m[y]) - seq(m[x]); d != 0 {
			return d
		}
		return cmp.Compare(x, y)
	})
	kept := make(map[string]V, n)
	for _, k := range keys[:n] {
		kept[k] = m[k]
	}
	return kept
}
