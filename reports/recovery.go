package reports

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

// Recovery sources: how money owed on an at-risk invoice came back, in the
// order reports list them.
const (
	SourceRetry      = "retry"       // a scheduled retry of the card on file (attempt > 1)
	SourceCardUpdate = "card_update" // the charge made when the customer put a new card on file
	SourceReminder   = "reminder"    // the customer paid on the pay-now page (after an email)
	SourceStaff      = "staff"       // recorded by staff: bank transfers and the like
	// SourceOtherCharge is a gateway charge that is neither: the first
	// scheduled charge that went through only after the due day, or a
	// charge whose attempt is missing from charge_attempts.
	SourceOtherCharge = "other_charge"
)

// RecoverySources are the sources in report order.
var RecoverySources = []string{SourceRetry, SourceCardUpdate, SourceReminder, SourceStaff, SourceOtherCharge}

// StepNoEmail is the step of a reminder or staff payment made before any
// email was sent for the invoice.
const StepNoEmail = "no_email"

// RecoveryOptions chooses the invoices the recovery report covers.
type RecoveryOptions struct {
	// Since and Until bound the invoices' due dates: Since <= due_at < Until.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Policy keeps only customers on this policy: a versioned ID
	// ("standard.v1") or a name for all its versions ("standard").
	Policy string `json:"policy,omitempty"`
	// AsOf is when the report is made (default now): an invoice whose due
	// day has not ended by then is not at risk yet, unless its first
	// charge failed.
	AsOf time.Time `json:"-"`
	// Policies gives each policy's day length (default: the embedded
	// policies). A policy it does not know has 24-hour days.
	Policies *policy.Registry `json:"-"`
}

var policyFilterPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}(\.v[0-9]{1,6})?$`)

// Validate says what is wrong with the options, if anything.
func (o RecoveryOptions) Validate() error {
	if o.Since.IsZero() || o.Until.IsZero() {
		return fmt.Errorf("since and until are required")
	}
	if !o.Since.Before(o.Until) {
		return fmt.Errorf("since (%s) must be before until (%s)", o.Since.UTC().Format(time.RFC3339), o.Until.UTC().Format(time.RFC3339))
	}
	if o.Policy != "" && !policyFilterPattern.MatchString(o.Policy) {
		return fmt.Errorf("policy %q must be a policy name like standard or an ID like standard.v1", o.Policy)
	}
	return nil
}

// RecoveryReport is how much of what was at risk came back, and how.
type RecoveryReport struct {
	AsOf    time.Time       `json:"as_of"`
	Options RecoveryOptions `json:"options"`
	// Total covers every policy and month; Months every policy by month.
	Total  RecoveryGroup   `json:"total"`
	Months []RecoveryGroup `json:"months"`
	// Policies, by policy ID, each with its total and months.
	Policies []PolicyRecovery `json:"policies"`
}

// PolicyRecovery is one policy's figures.
type PolicyRecovery struct {
	Policy string          `json:"policy"`
	Total  RecoveryGroup   `json:"total"`
	Months []RecoveryGroup `json:"months"`
}

// RecoveryGroup is the figures of one set of invoices: a month ("2026-01",
// of the due date in UTC) or all months (Month empty).
type RecoveryGroup struct {
	Month          string             `json:"month,omitempty"`
	Currencies     []CurrencyRecovery `json:"currencies"`
	TimeToRecovery TimeToRecovery     `json:"time_to_recovery"`
}

// CurrencyRecovery is a group's money in one currency. Counts are
// invoices, except in BySource and Steps, where they are payments (a
// payment's part on one invoice).
type CurrencyRecovery struct {
	Currency string `json:"currency"`
	// Due is every invoice due in the window (void ones left out).
	Due Figure `json:"due"`
	// Collected is what the first automatic charge took on time.
	Collected Figure `json:"collected"`
	// AtRisk is the invoices not paid in full by the end of their due day
	// or whose first charge failed, and what they still owed then.
	AtRisk Figure `json:"at_risk"`
	// Recovered is what at-risk invoices were paid afterwards, counting
	// the invoices that got any of it; RecoveredInFull those that got all.
	Recovered       Figure `json:"recovered"`
	RecoveredInFull int64  `json:"recovered_in_full_count"`
	// RateBP is Recovered / AtRisk in basis points (10000 = 100%), rounded
	// to the nearest; nil when nothing was at risk.
	RateBP   *int64         `json:"recovery_rate_bp"`
	BySource []SourceFigure `json:"by_source"` // every source, in RecoverySources order
	Steps    []StepRecovery `json:"steps"`     // by source, then largest amount first
}

// SourceFigure is the money one source recovered.
type SourceFigure struct {
	Source string `json:"source"`
	Figure
}

// StepRecovery is the money recovered at one step: for charges the attempt
// ("attempt_2"), for reminders and staff the last email stage sent for the
// invoice before the payment ("overdue_1", "final_notice", ...) or
// StepNoEmail.
type StepRecovery struct {
	Source  string `json:"source"`
	Step    string `json:"step"`
	Attempt int    `json:"attempt,omitempty"` // charges only
	Figure
}

// TimeToRecovery is how long recovered payments took, from the due date
// to the payment (0 for one before the due date), over every currency.
// Days are the customer's policy days. The percentiles interpolate
// linearly (as PostgreSQL's percentile_cont); they are nil without
// payments.
type TimeToRecovery struct {
	Payments    int64    `json:"payments"`
	MedianHours *float64 `json:"median_hours"`
	P90Hours    *float64 `json:"p90_hours"`
	MedianDays  *float64 `json:"median_days"`
	P90Days     *float64 `json:"p90_days"`

	hours, days []float64 // while adding up
}

// recoveryRow is one payment (allocation) on an invoice due in the
// window, or the invoice alone when nothing was paid.
type recoveryRow struct {
	InvoiceID   string         `db:"invoice_id"`
	Policy      string         `db:"policy"`
	Month       string         `db:"month"`
	Currency    string         `db:"currency"`
	AmountMinor int64          `db:"amount_minor"`
	AtRisk      bool           `db:"at_risk"`
	AtRiskMinor int64          `db:"at_risk_minor"`
	Source      sql.NullString `db:"source"` // collected, on_time, or a recovery source
	PaidMinor   sql.NullInt64  `db:"paid_minor"`
	Step        sql.NullString `db:"step"`
	Attempt     sql.NullInt64  `db:"attempt"`
	AfterDueUS  sql.NullInt64  `db:"after_due_us"` // microseconds from the due date to the payment
	DayUS       int64          `db:"day_us"`       // the policy's day
}

// recoveryQuery classifies every invoice due in [$1, $2) and every payment
// applied to it. $3 is the report time, $4/$5 the policies' day lengths,
// $6 the policy filter.
//
// An invoice's due day ends one policy day after due_at (before then it is
// 0 days past due, as aging counts). It is at risk from the end of its due
// day or from its first charge's failure, whichever is earlier, if it was
// not paid in full before that moment. A payment before that moment is on
// time ("collected" when it is the first automatic charge, attempt 1 on
// the schedule or the prepayment); a payment after it on an at-risk
// invoice is recovered, attributed by the payment's actor and, for
// charges, the attempt's trigger and number.
const recoveryQuery = `
WITH days AS (
	SELECT * FROM unnest($4::text[], $5::bigint[]) AS d(policy, day_us)
), inv AS (
	SELECT i.invoice_id, i.customer_id, c.policy, trim(i.currency) AS currency, i.amount_minor, i.due_at,
		coalesce(d.day_us, 86400000000) AS day_us,
		least(i.due_at + coalesce(d.day_us, 86400000000) * interval '1 microsecond',
			(SELECT coalesce(ca.settled_at, ca.requested_at) FROM charge_attempts ca
			 WHERE ca.customer_id = i.customer_id AND ca.invoice_id = i.invoice_id AND ca.attempt = 1
				AND ca.status IN ('declined', 'requires_action'))) AS risk_from
	FROM invoices i
	JOIN customers c ON c.customer_id = i.customer_id
	LEFT JOIN days d ON d.policy = c.policy
	WHERE i.due_at >= $1 AND i.due_at < $2 AND i.status <> 'void' AND i.amount_minor > 0
		AND ($6 = '' OR c.policy = $6 OR starts_with(c.policy, $6 || '.v'))
), pay AS (
	SELECT a.invoice_id, a.amount_minor, p.actor, p.received_at, ca.attempt, ca.trigger,
		p.received_at < r.risk_from AS on_time
	FROM inv r
	JOIN payment_allocations a ON a.invoice_id = r.invoice_id
	JOIN payments p ON p.customer_id = a.customer_id AND p.payment_id = a.payment_id
	LEFT JOIN charge_attempts ca ON p.actor = '` + account.GatewayActor + `' AND ca.payment_intent_id = p.payment_id
		AND ca.customer_id = p.customer_id
), risk AS (
	SELECT r.*, r.risk_from <= $3 AND r.amount_minor > coalesce(t.on_time_minor, 0) AS at_risk,
		r.amount_minor - coalesce(t.on_time_minor, 0) AS at_risk_minor
	FROM inv r
	LEFT JOIN (SELECT invoice_id, sum(amount_minor)::bigint AS on_time_minor FROM pay WHERE on_time GROUP BY invoice_id) t
		ON t.invoice_id = r.invoice_id
)
SELECT r.invoice_id, r.policy, to_char(r.due_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, r.currency, r.amount_minor,
	r.at_risk, CASE WHEN r.at_risk THEN r.at_risk_minor ELSE 0 END AS at_risk_minor, r.day_us,
	CASE
		WHEN p.invoice_id IS NULL THEN NULL
		WHEN p.on_time AND p.actor = '` + account.GatewayActor + `' AND p.attempt = 1 AND p.trigger IN ('schedule', 'prepayment') THEN '` + sourceCollected + `'
		WHEN p.on_time OR NOT r.at_risk THEN '` + sourceOnTime + `'
		WHEN p.actor = '` + account.GatewayActor + `' AND p.trigger = 'card_update' THEN '` + SourceCardUpdate + `'
		WHEN p.actor = '` + account.GatewayActor + `' AND p.attempt > 1 THEN '` + SourceRetry + `'
		WHEN p.actor = '` + account.GatewayActor + `' THEN '` + SourceOtherCharge + `'
		WHEN p.actor = '` + account.PayLinkActor + `' THEN '` + SourceReminder + `'
		ELSE '` + SourceStaff + `'
	END AS source,
	p.amount_minor AS paid_minor, p.attempt,
	CASE WHEN p.actor = '` + account.GatewayActor + `' THEN coalesce('attempt_' || p.attempt, 'unknown')
		ELSE coalesce((SELECT o.stage FROM email_outbox o
			WHERE o.customer_id = r.customer_id AND o.invoice_id = r.invoice_id AND o.status IN ('sent', 'logged') AND o.sent_at <= p.received_at
			ORDER BY o.sent_at DESC, o.id DESC LIMIT 1), '` + StepNoEmail + `')
	END AS step,
	(extract(epoch FROM greatest(p.received_at - r.due_at, interval '0')) * 1000000)::bigint AS after_due_us
FROM risk r
LEFT JOIN pay p ON p.invoice_id = r.invoice_id
ORDER BY r.invoice_id, p.received_at`

// Recovery reports, per policy and month of the due date and in total,
// what was at risk among the invoices due in the window, how much came
// back and how: by retries, a card update, reminders or staff, at which
// step, and how long it took (see recoveryQuery for the rules). Money is
// per currency, never added across currencies.
//
// The rules are one SQL statement; Go adds up its rows, so that the
// percentiles and steps of every group come from the same classification.
func Recovery(ctx context.Context, db *sqlx.DB, opts RecoveryOptions) (RecoveryReport, error) {
	if err := opts.Validate(); err != nil {
		return RecoveryReport{}, err
	}
	reg := opts.Policies
	if reg == nil {
		var err error
		if reg, err = policy.Embedded(); err != nil {
			return RecoveryReport{}, err
		}
	}
	asOf := opts.AsOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	asOf = asOf.Truncate(time.Microsecond)
	ids, days := policyDays(reg)
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return RecoveryReport{}, err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '`+reportWorkMem+`'`); err != nil {
		return RecoveryReport{}, err
	}
	var rows []recoveryRow
	if err := tx.SelectContext(ctx, &rows, recoveryQuery, opts.Since, opts.Until, asOf,
		pq.Array(ids), pq.Array(days), opts.Policy); err != nil {
		return RecoveryReport{}, fmt.Errorf("recovery report: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return RecoveryReport{}, err
	}
	opts.Policies, opts.AsOf = nil, time.Time{}
	return buildRecovery(rows, opts, asOf), nil
}

// policyDays lists every policy version's ID with its day in microseconds.
func policyDays(reg *policy.Registry) ([]string, []int64) {
	var ids []string
	var days []int64
	for _, name := range reg.Names() {
		latest, err := reg.Get(name)
		if err != nil {
			continue
		}
		for v := 1; v <= latest.Version; v++ {
			if p, err := reg.Get(fmt.Sprintf("%s.v%d", name, v)); err == nil {
				ids, days = append(ids, p.ID()), append(days, p.Day.Microseconds())
			}
		}
	}
	return ids, days
}

// buildRecovery adds the rows up into every group they belong to. Rows
// come invoice by invoice, so an invoice's own figures (due, at risk, and
// whether it was collected or recovered at all) are counted once.
func buildRecovery(rows []recoveryRow, opts RecoveryOptions, asOf time.Time) RecoveryReport {
	total := &RecoveryGroup{}
	months := map[string]*RecoveryGroup{}
	policies := map[string]*RecoveryGroup{}
	policyMonths := map[string]map[string]*RecoveryGroup{}
	group := func(m map[string]*RecoveryGroup, key, month string) *RecoveryGroup {
		if m[key] == nil {
			m[key] = &RecoveryGroup{Month: month}
		}
		return m[key]
	}
	var collected bool       // the current invoice has had a collected payment
	var recoveredMinor int64 // and this much recovered
	for i, r := range rows {
		if policyMonths[r.Policy] == nil {
			policyMonths[r.Policy] = map[string]*RecoveryGroup{}
		}
		groups := []*RecoveryGroup{total, group(months, r.Month, r.Month),
			group(policies, r.Policy, ""), group(policyMonths[r.Policy], r.Month, r.Month)}
		first := i == 0 || rows[i-1].InvoiceID != r.InvoiceID
		last := i == len(rows)-1 || rows[i+1].InvoiceID != r.InvoiceID
		if first {
			collected, recoveredMinor = false, 0
		}
		source := r.Source.String
		newCollected := source == sourceCollected && !collected
		newRecovered := isRecovery(source) && recoveredMinor == 0
		collected = collected || source == sourceCollected
		if isRecovery(source) {
			recoveredMinor += r.PaidMinor.Int64
		}
		for _, g := range groups {
			c := g.currency(r.Currency)
			if first {
				c.Due.add(1, r.AmountMinor)
				if r.AtRisk {
					c.AtRisk.add(1, r.AtRiskMinor)
				}
			}
			switch {
			case source == sourceCollected:
				c.Collected.add(b2i(newCollected), r.PaidMinor.Int64)
			case isRecovery(source):
				c.Recovered.add(b2i(newRecovered), r.PaidMinor.Int64)
				c.source(source).add(1, r.PaidMinor.Int64)
				c.step(source, r.Step.String, int(r.Attempt.Int64)).add(1, r.PaidMinor.Int64)
				t := &g.TimeToRecovery
				t.hours = append(t.hours, float64(r.AfterDueUS.Int64)/float64(time.Hour/time.Microsecond))
				t.days = append(t.days, float64(r.AfterDueUS.Int64)/float64(r.DayUS))
			}
			if last && r.AtRisk && recoveredMinor >= r.AtRiskMinor {
				c.RecoveredInFull++
			}
		}
	}
	rep := RecoveryReport{AsOf: asOf, Options: opts, Total: total.finish(), Months: sortedGroups(months), Policies: []PolicyRecovery{}}
	for _, id := range slices.Sorted(maps.Keys(policies)) {
		rep.Policies = append(rep.Policies, PolicyRecovery{Policy: id, Total: policies[id].finish(), Months: sortedGroups(policyMonths[id])})
	}
	return rep
}

// sourceCollected and sourceOnTime classify the payments that are not
// recoveries.
const (
	sourceCollected = "collected"
	sourceOnTime    = "on_time"
)

func isRecovery(source string) bool { return slices.Contains(RecoverySources, source) }

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func sortedGroups(m map[string]*RecoveryGroup) []RecoveryGroup {
	out := []RecoveryGroup{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k].finish())
	}
	return out
}

func (f *Figure) add(n, minor int64) {
	f.Count += n
	f.Minor += minor
}

func (g *RecoveryGroup) currency(code string) *CurrencyRecovery {
	for i := range g.Currencies {
		if g.Currencies[i].Currency == code {
			return &g.Currencies[i]
		}
	}
	c := CurrencyRecovery{Currency: code, Steps: []StepRecovery{}}
	for _, s := range RecoverySources {
		c.BySource = append(c.BySource, SourceFigure{Source: s})
	}
	g.Currencies = append(g.Currencies, c)
	return &g.Currencies[len(g.Currencies)-1]
}

func (c *CurrencyRecovery) source(s string) *Figure {
	return &c.BySource[slices.Index(RecoverySources, s)].Figure
}

func (c *CurrencyRecovery) step(source, step string, attempt int) *Figure {
	i := slices.IndexFunc(c.Steps, func(s StepRecovery) bool { return s.Source == source && s.Step == step })
	if i < 0 {
		i = len(c.Steps)
		c.Steps = append(c.Steps, StepRecovery{Source: source, Step: step, Attempt: attempt})
	}
	return &c.Steps[i].Figure
}

// finish sorts the group and works out its rates and percentiles.
func (g RecoveryGroup) finish() RecoveryGroup {
	if g.Currencies == nil {
		g.Currencies = []CurrencyRecovery{}
	}
	slices.SortFunc(g.Currencies, func(a, b CurrencyRecovery) int { return cmp.Compare(a.Currency, b.Currency) })
	for i := range g.Currencies {
		c := &g.Currencies[i]
		c.RateBP = RateBP(c.Recovered.Minor, c.AtRisk.Minor)
		slices.SortStableFunc(c.Steps, func(a, b StepRecovery) int {
			return cmp.Or(cmp.Compare(slices.Index(RecoverySources, a.Source), slices.Index(RecoverySources, b.Source)),
				cmp.Compare(b.Minor, a.Minor), cmp.Compare(a.Attempt, b.Attempt), cmp.Compare(a.Step, b.Step))
		})
	}
	t := &g.TimeToRecovery
	t.Payments = int64(len(t.hours))
	t.MedianHours, t.P90Hours = percentile(t.hours, 0.5), percentile(t.hours, 0.9)
	t.MedianDays, t.P90Days = percentile(t.days, 0.5), percentile(t.days, 0.9)
	t.hours, t.days = nil, nil
	return g
}

// RateBP is part/whole in basis points, rounded half up; nil when whole is
// not positive.
func RateBP(part, whole int64) *int64 {
	if whole <= 0 {
		return nil
	}
	var bp int64
	if part <= (math.MaxInt64-whole)/10000 {
		bp = (part*10000 + whole/2) / whole
	} else { // too large to scale in int64; a ratio for display, so a float will do
		bp = int64(float64(part)/float64(whole)*10000 + 0.5)
	}
	return &bp
}

// percentile is the p-quantile of xs, interpolated linearly between the
// closest ranks; nil for no values.
func percentile(xs []float64, p float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Sorted(slices.Values(xs))
	pos := p * float64(len(s)-1)
	lo := int(math.Floor(pos))
	v := s[lo]
	if lo+1 < len(s) {
		v += (pos - float64(lo)) * (s[lo+1] - s[lo])
	}
	return &v
}

// StepLabel is a step for people: "attempt 2", "overdue_1", "no email".
func StepLabel(s StepRecovery) string {
	switch {
	case s.Attempt > 0:
		return "attempt " + strconv.Itoa(s.Attempt)
	case s.Step == StepNoEmail:
		return "no email"
	}
	return s.Step
}
