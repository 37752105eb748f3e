// Package monitoring is activity-log monitoring after purchase: it ingests
// customers' activity events, runs the risk package's monitoring rules on
// each new event against the customer's history, stores every hit, and
// hands hits to the customer's workflow as ReportAbuse updates (source
// "monitoring").
//
// Storage is the outbox pattern: an event and the hits it caused are
// committed together, and a hit's report is made after the commit and
// recorded once the workflow accepted it. A hit whose report failed, or
// whose reporter died before recording the outcome, stays pending and is
// retried by ReportPending; its notice ID ("mon-<hit id>") makes the retry
// idempotent in the workflow.
//
// Wiring: the API server mounts Handler behind its bearer-token auth (for
// example at POST /v1/activity); the worker calls ReportPending every
// minute or so. Both use an Ingester with OpsReporter as its Reporter.
package monitoring

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/account"
	"github.com/example/dunning/risk"
)

// DefaultQuietPeriod is how long after a hit was reported (or while it is
// waiting to be) further hits of the same rule for the same customer are
// stored but not reported.
const DefaultQuietPeriod = 24 * time.Hour

// Ingester stores activity events and acts on the monitoring rules' hits.
// DB, Config and Reporter are required; Now defaults to time.Now and
// Logger to slog.Default.
type Ingester struct {
	DB       *sqlx.DB
	Config   risk.Config
	Reporter Reporter
	Now      func() time.Time
	Logger   *slog.Logger

	// QuietPeriod: the rules flag every later event of a burst or spike,
	// and each report opens a review in the workflow, so once a rule's hit
	// for a customer is pending or was reported within QuietPeriod, further
	// hits of that rule for that customer are stored as suppressed instead
	// of reported. Zero means DefaultQuietPeriod; negative reports every hit.
	QuietPeriod time.Duration
}

// Result says what an ingest did.
type Result struct {
	Received   int            `json:"received"`   // events (or non-blank lines) submitted
	Stored     int            `json:"stored"`     // new events stored
	Duplicates int            `json:"duplicates"` // events already stored, skipped
	Invalid    []InvalidEvent `json:"invalid"`    // events skipped, with the reason
	Hits       []StoredHit    `json:"hits"`       // hits of the new events, with their report state
}

// InvalidEvent is an event that was skipped. Index is its 0-based position
// in the batch (the slice, the JSON array, or the n-th non-blank line);
// Line is its 1-based line number when the input was JSON lines.
type InvalidEvent struct {
	Index   int    `json:"index"`
	Line    int    `json:"line,omitempty"`
	EventID string `json:"event_id,omitempty"`
	Error   string `json:"error"`
}

// Hit report states (monitoring_hits.report_status).
const (
	StatusPending    = "pending"    // to be reported (again)
	StatusReported   = "reported"   // the workflow accepted it
	StatusSuppressed = "suppressed" // within the quiet period of an earlier hit
	StatusFailed     = "failed"     // unknown customer or refused: not retried
)

// StoredHit is a monitoring_hits row.
type StoredHit struct {
	ID           int64             `json:"id"`
	NoticeID     string            `json:"notice_id"`
	EventID      string            `json:"event_id"`
	CustomerID   string            `json:"customer_id"`
	Rule         string            `json:"rule"`
	Severity     account.Severity  `json:"severity"`
	Evidence     map[string]string `json:"evidence"`
	CreatedAt    time.Time         `json:"created_at"`
	Status       string            `json:"status"`
	ReportedAt   *time.Time        `json:"reported_at,omitempty"`
	SuppressedBy int64             `json:"suppressed_by,omitempty"`
	Attempts     int               `json:"report_attempts"`
	ReportError  string            `json:"report_error,omitempty"`
}

// item is an event with where it came from.
type item struct {
	ev    risk.ActivityEvent
	raw   []byte // the event as received; nil: marshal ev
	index int
	line  int
}

// Ingest validates, stores and monitors a batch of events. Invalid events
// are skipped and listed in the Result rather than failing the batch: one
// bad line in a 10,000-line file should not hold back the rest, and the
// caller decides whether a partly invalid batch is an error. The error is
// for the database (or ctx) failing; customers whose events were committed
// before it stay committed, so the caller can send the whole batch again
// and the stored events count as duplicates.
func (ing *Ingester) Ingest(ctx context.Context, events []risk.ActivityEvent) (Result, error) {
	items := make([]item, len(events))
	for i, ev := range events {
		items[i] = item{ev: ev, index: i}
	}
	res := newResult()
	res.Received = len(items)
	err := ing.ingest(ctx, items, &res)
	return res, err
}

func newResult() Result {
	return Result{Invalid: []InvalidEvent{}, Hits: []StoredHit{}}
}

// ingest adds the items' outcome to res.
func (ing *Ingester) ingest(ctx context.Context, items []item, res *Result) error {
	if ing.DB == nil || ing.Reporter == nil {
		return errors.New("monitoring: Ingester needs DB and Reporter")
	}
	if ing.Config.Monitoring.SpendSpike.TrailingDays == 0 {
		// A zero Config would judge nothing and say nothing about it.
		return errors.New("monitoring: Ingester needs a Config (risk.DefaultConfig or risk.LoadConfig)")
	}
	byCustomer := map[string][]item{}
	for _, it := range items {
		err := it.ev.Validate()
		if err == nil {
			err = storable(it.ev)
		}
		if err != nil {
			res.Invalid = append(res.Invalid, InvalidEvent{Index: it.index, Line: it.line, EventID: it.ev.EventID, Error: err.Error()})
			continue
		}
		// PostgreSQL keeps microseconds: compare in memory what is stored.
		it.ev.At = it.ev.At.UTC().Truncate(time.Microsecond)
		byCustomer[it.ev.CustomerID] = append(byCustomer[it.ev.CustomerID], it)
	}
	rep := &reportRun{}
	for _, cid := range slices.Sorted(maps.Keys(byCustomer)) {
		group := byCustomer[cid]
		// In time order, so that within a batch each event is judged
		// against the ones before it, as if they had arrived one by one.
		slices.SortStableFunc(group, func(a, b item) int { return a.ev.At.Compare(b.ev.At) })
		stored, dups, hits, err := ing.storeCustomer(ctx, cid, group)
		if err != nil {
			return fmt.Errorf("monitoring: events of customer %s: %w", cid, err)
		}
		res.Stored += stored
		res.Duplicates += dups
		for i := range hits {
			if hits[i].Status == StatusPending {
				ing.reportNew(ctx, rep, &hits[i])
			}
		}
		res.Hits = append(res.Hits, hits...)
	}
	sortInvalid(res.Invalid)
	return nil
}

// storable refuses what PostgreSQL text cannot hold (NUL, invalid UTF-8),
// which would otherwise fail the whole customer's transaction.
func storable(ev risk.ActivityEvent) error {
	for _, f := range []struct{ name, v string }{{"region", ev.Region}, {"resource_type", ev.ResourceType}} {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return fmt.Errorf("%s must be valid UTF-8 text without NUL characters", f.name)
		}
	}
	return nil
}

// historyWindow is how far back from an event the windowed rules look: the
// spend spike's day plus its trailing days, or the burst window. The
// region rule looks at all history, through activity_regions instead.
func historyWindow(cfg risk.Config) time.Duration {
	ss := cfg.Monitoring.SpendSpike
	w := ss.Day * time.Duration(ss.TrailingDays+1)
	return max(w, cfg.Monitoring.AccountChangeBurst.Window)
}

// lockClass is the first key of the per-customer advisory lock, so that it
// cannot collide with other advisory locks on the database.
const lockClass = 0x6d6f6e // "mon"

type eventRow struct {
	EventID      string    `db:"event_id"`
	CustomerID   string    `db:"customer_id"`
	At           time.Time `db:"at"`
	Kind         string    `db:"kind"`
	Region       string    `db:"region"`
	ResourceType string    `db:"resource_type"`
	AmountMinor  int64     `db:"amount_minor"`
}

// storeCustomer stores one customer's events (sorted by time) and their
// hits in one transaction, under a per-customer advisory lock: two batches
// for the same customer are then judged one after the other, and a burst
// split between them is still seen as a burst.
func (ing *Ingester) storeCustomer(ctx context.Context, cid string, group []item) (stored, dups int, hits []StoredHit, err error) {
	tx, err := ing.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockClass, cid); err != nil {
		return 0, 0, nil, err
	}

	// The windowed rules' history: every event of the customer from the
	// window before the first new event up to the last one.
	window := historyWindow(ing.Config)
	var rows []eventRow
	if err := tx.SelectContext(ctx, &rows, `
		SELECT event_id, customer_id, at, kind, region, resource_type, amount_minor
		FROM activity_events WHERE customer_id = $1 AND at > $2 AND at <= $3
		ORDER BY at, event_id`, cid, group[0].ev.At.Add(-window), group[len(group)-1].ev.At); err != nil {
		return 0, 0, nil, err
	}
	hist := make([]risk.ActivityEvent, 0, len(rows)+len(group))
	for _, r := range rows {
		hist = append(hist, risk.ActivityEvent{EventID: r.EventID, CustomerID: r.CustomerID, At: r.At, Kind: r.Kind,
			Region: r.Region, ResourceType: r.ResourceType, AmountMinor: r.AmountMinor})
	}

	// The region rule's history: when each region was first seen.
	var seen []struct {
		Region      string    `db:"region"`
		FirstSeenAt time.Time `db:"first_seen_at"`
	}
	if err := tx.SelectContext(ctx, &seen, `SELECT region, first_seen_at FROM activity_regions WHERE customer_id = $1`, cid); err != nil {
		return 0, 0, nil, err
	}
	regions := make(map[string]time.Time, len(seen))
	for _, s := range seen {
		regions[s.Region] = s.FirstSeenAt
	}

	now := ing.now()
	for _, it := range group {
		ev := it.ev
		raw := it.raw
		if raw == nil {
			if raw, err = json.Marshal(ev); err != nil {
				return 0, 0, nil, err
			}
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO activity_events (event_id, customer_id, at, kind, region, resource_type, amount_minor, raw, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING`,
			ev.EventID, ev.CustomerID, ev.At, ev.Kind, ev.Region, ev.ResourceType, ev.AmountMinor, string(raw), now)
		if err != nil {
			return 0, 0, nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, 0, nil, err
		} else if n == 0 {
			// Stored before (or earlier in this batch): it was judged then,
			// so it is neither judged nor reported again.
			dups++
			continue
		}
		stored++

		for _, h := range risk.Monitor(ing.Config, prior(hist, regions, ev, window), ev) {
			sh, ok, err := ing.insertHit(ctx, tx, ev, h, now)
			if err != nil {
				return 0, 0, nil, err
			}
			if ok {
				hits = append(hits, sh)
			}
		}

		i := sort.Search(len(hist), func(i int) bool { return hist[i].At.After(ev.At) })
		hist = slices.Insert(hist, i, ev)
		if ev.Region != "" {
			if first, ok := regions[ev.Region]; !ok || ev.At.Before(first) {
				regions[ev.Region] = ev.At
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO activity_regions (customer_id, region, first_seen_at, first_event_id) VALUES ($1, $2, $3, $4)
					ON CONFLICT (customer_id, region) DO UPDATE
					SET first_seen_at = EXCLUDED.first_seen_at, first_event_id = EXCLUDED.first_event_id
					WHERE EXCLUDED.first_seen_at < activity_regions.first_seen_at`,
					cid, ev.Region, ev.At, ev.EventID); err != nil {
					return 0, 0, nil, err
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, nil, err
	}
	return stored, dups, hits, nil
}

// regionMarkerPrefix starts the IDs of the synthetic events that stand for
// a customer's seen regions; '#' is not allowed in event IDs, so a marker
// never shares its ID with a real event (which Monitor would drop).
const regionMarkerPrefix = "#region:"

// prior is the history risk.Monitor needs for ev: the events of the
// window ending at ev (hist is sorted by time), and one marker per region
// seen at or before ev. A marker has no kind, so only the region rule,
// which looks at every earlier event's region, takes note of it.
func prior(hist []risk.ActivityEvent, regions map[string]time.Time, ev risk.ActivityEvent, window time.Duration) []risk.ActivityEvent {
	from := ev.At.Add(-window)
	lo := sort.Search(len(hist), func(i int) bool { return hist[i].At.After(from) })
	hi := sort.Search(len(hist), func(i int) bool { return hist[i].At.After(ev.At) })
	out := make([]risk.ActivityEvent, 0, hi-lo+len(regions))
	out = append(out, hist[lo:hi]...)
	for region, first := range regions {
		if !first.After(ev.At) {
			out = append(out, risk.ActivityEvent{EventID: regionMarkerPrefix + region, CustomerID: ev.CustomerID, At: first, Region: region})
		}
	}
	return out
}

const hitColumns = `id, notice_id, event_id, customer_id, rule, severity, evidence, created_at, report_status,
	reported_at, suppressed_by, report_attempts, report_error`

type hitRow struct {
	ID           int64         `db:"id"`
	NoticeID     string        `db:"notice_id"`
	EventID      string        `db:"event_id"`
	CustomerID   string        `db:"customer_id"`
	Rule         string        `db:"rule"`
	Severity     string        `db:"severity"`
	Evidence     []byte        `db:"evidence"`
	CreatedAt    time.Time     `db:"created_at"`
	Status       string        `db:"report_status"`
	ReportedAt   sql.NullTime  `db:"reported_at"`
	SuppressedBy sql.NullInt64 `db:"suppressed_by"`
	Attempts     int           `db:"report_attempts"`
	ReportError  string        `db:"report_error"`
}

func (r hitRow) hit() (StoredHit, error) {
	h := StoredHit{ID: r.ID, NoticeID: r.NoticeID, EventID: r.EventID, CustomerID: r.CustomerID, Rule: r.Rule,
		Severity: account.Severity(r.Severity), CreatedAt: r.CreatedAt, Status: r.Status, SuppressedBy: r.SuppressedBy.Int64,
		Attempts: r.Attempts, ReportError: r.ReportError}
	if r.ReportedAt.Valid {
		t := r.ReportedAt.Time
		h.ReportedAt = &t
	}
	if err := json.Unmarshal(r.Evidence, &h.Evidence); err != nil {
		return h, fmt.Errorf("hit %d evidence: %w", r.ID, err)
	}
	return h, nil
}

// insertHit stores a hit, pending or suppressed. A pending hit starts
// leased to this ingest (next_attempt_at in reportLease), so that
// ReportPending running meanwhile leaves it to us unless we die.
func (ing *Ingester) insertHit(ctx context.Context, tx *sqlx.Tx, ev risk.ActivityEvent, h risk.Hit, now time.Time) (StoredHit, bool, error) {
	evidence, err := json.Marshal(h.Evidence)
	if err != nil {
		return StoredHit{}, false, err
	}
	var by sql.NullInt64
	if quiet := ing.quietPeriod(); quiet > 0 {
		err := tx.GetContext(ctx, &by, `
			SELECT id FROM monitoring_hits
			WHERE customer_id = $1 AND rule = $2
			  AND (report_status = 'pending' OR (report_status = 'reported' AND reported_at > $3))
			ORDER BY id DESC LIMIT 1`, ev.CustomerID, h.Rule, now.Add(-quiet))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return StoredHit{}, false, err
		}
	}
	status, next := StatusPending, sql.NullTime{Time: now.Add(reportLease), Valid: true}
	if by.Valid {
		status, next = StatusSuppressed, sql.NullTime{}
	}
	var rows []hitRow
	if err := tx.SelectContext(ctx, &rows, `
		INSERT INTO monitoring_hits (event_id, customer_id, rule, severity, evidence, created_at, report_status, suppressed_by, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (event_id, rule) DO NOTHING
		RETURNING `+hitColumns,
		ev.EventID, ev.CustomerID, h.Rule, string(h.Severity), string(evidence), now, status, by, next); err != nil {
		return StoredHit{}, false, err
	}
	if len(rows) == 0 {
		return StoredHit{}, false, nil
	}
	sh, err := rows[0].hit()
	return sh, true, err
}

func (ing *Ingester) now() time.Time {
	if ing.Now != nil {
		return ing.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (ing *Ingester) logger() *slog.Logger {
	if ing.Logger != nil {
		return ing.Logger
	}
	return slog.Default()
}

func (ing *Ingester) quietPeriod() time.Duration {
	if ing.QuietPeriod == 0 {
		return DefaultQuietPeriod
	}
	return ing.QuietPeriod
}
