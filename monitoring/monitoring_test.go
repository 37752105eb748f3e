package monitoring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/account"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/monitoring"
	"github.com/example/dunning/risk"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type sent struct {
	customerID string
	r          account.AbuseReport
}

// fakeReporter records accepted reports. It does not deduplicate notice
// IDs, so a hit reported twice shows up twice.
type fakeReporter struct {
	mu       sync.Mutex
	ok       []sent
	attempts int
	fail     func(customerID string, r account.AbuseReport) error
}

func (f *fakeReporter) ReportAbuse(_ context.Context, customerID string, r account.AbuseReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	// What the workflow's validator would refuse.
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%w: %v", monitoring.ErrRejected, err)
	}
	if !slices.Contains(risk.AbuseCategories, r.Category) {
		return fmt.Errorf("%w: category %q", monitoring.ErrRejected, r.Category)
	}
	if f.fail != nil {
		if err := f.fail(customerID, r); err != nil {
			return err
		}
	}
	f.ok = append(f.ok, sent{customerID, r})
	return nil
}

func (f *fakeReporter) setFail(fn func(string, account.AbuseReport) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

func (f *fakeReporter) sent() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ok)
}

func (f *fakeReporter) tries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

type env struct {
	ing *monitoring.Ingester
	rep *fakeReporter
	clk *clock
	db  *sqlx.DB
}

func setup(t *testing.T) *env {
	t.Helper()
	_, db := pgtest.New(t)
	cfg, err := risk.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rep: &fakeReporter{}, clk: &clock{t: t0.Add(time.Hour)}, db: db}
	e.ing = &monitoring.Ingester{DB: db, Config: cfg, Reporter: e.rep, Now: e.clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return e
}

func (e *env) ingest(t *testing.T, events ...risk.ActivityEvent) monitoring.Result {
	t.Helper()
	res, err := e.ing.Ingest(context.Background(), events)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if len(res.Invalid) > 0 {
		t.Fatalf("unexpected invalid events: %+v", res.Invalid)
	}
	return res
}

func (e *env) reportPending(t *testing.T) int {
	t.Helper()
	n, err := e.ing.ReportPending(context.Background())
	if err != nil {
		t.Fatalf("ReportPending: %v", err)
	}
	return n
}

type hitState struct {
	ID           int64          `db:"id"`
	NoticeID     string         `db:"notice_id"`
	EventID      string         `db:"event_id"`
	Rule         string         `db:"rule"`
	Severity     string         `db:"severity"`
	Status       string         `db:"report_status"`
	ReportedAt   *time.Time     `db:"reported_at"`
	SuppressedBy *int64         `db:"suppressed_by"`
	Attempts     int            `db:"report_attempts"`
	ReportError  string         `db:"report_error"`
	Evidence     map[string]any `db:"-"`
}

func (e *env) hits(t *testing.T, customerID string) []hitState {
	t.Helper()
	var hs []hitState
	if err := e.db.Select(&hs, `SELECT id, notice_id, event_id, rule, severity, report_status, reported_at, suppressed_by,
		report_attempts, report_error FROM monitoring_hits WHERE customer_id = $1 ORDER BY id`, customerID); err != nil {
		t.Fatal(err)
	}
	return hs
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func event(id, customer, kind string, at time.Time) risk.ActivityEvent {
	return risk.ActivityEvent{EventID: id, CustomerID: customer, At: at, Kind: kind}
}

func usage(id, customer string, at time.Time, amount int64) risk.ActivityEvent {
	e := event(id, customer, risk.KindUsage, at)
	e.AmountMinor = amount
	return e
}

func login(id, customer, region string, at time.Time) risk.ActivityEvent {
	e := event(id, customer, risk.KindLogin, at)
	e.Region = region
	return e
}

func inRegion(e risk.ActivityEvent, region string) risk.ActivityEvent {
	e.Region = region
	return e
}

func resource(id, customer, typ string, at time.Time) risk.ActivityEvent {
	e := event(id, customer, risk.KindResourceCreated, at)
	e.ResourceType = typ
	return e
}

// trailing is a week of usage, amount a day, on the 7 days before the day
// ending at t0.
func trailing(customer string, amount int64) []risk.ActivityEvent {
	var evs []risk.ActivityEvent
	for d := 1; d <= 7; d++ {
		evs = append(evs, usage(fmt.Sprintf("%s-trail-%d", customer, d), customer, t0.Add(-time.Duration(d)*24*time.Hour-time.Hour), amount))
	}
	return evs
}

func TestSpendSpikeAgainstStoredTrailingAverage(t *testing.T) {
	e := setup(t)
	// The trailing week goes in first, so the spike is judged against
	// history read back from the database. Default rule: 5x, minimum 50000.
	if res := e.ingest(t, append(trailing("acme", 10_000), trailing("steady", 20_000)...)...); res.Stored != 14 || len(res.Hits) != 0 {
		t.Fatalf("trailing week: %+v", res)
	}
	res := e.ingest(t,
		usage("acme-1", "acme", t0.Add(-2*time.Hour), 30_000),
		usage("acme-2", "acme", t0, 25_000),     // day 55000 > 5 x 10000
		usage("steady-1", "steady", t0, 55_000), // 55000 <= 5 x 20000: a big spender as usual
	)
	if len(res.Hits) != 1 {
		t.Fatalf("hits %+v, want one spend spike for acme", res.Hits)
	}
	h := res.Hits[0]
	if h.Rule != risk.RuleSpendSpike || h.EventID != "acme-2" || h.CustomerID != "acme" || h.Severity != account.SeverityModerate ||
		h.Evidence["day_spend_minor"] != "55000" || h.Evidence["trailing_spend_minor"] != "70000" ||
		h.Evidence["trailing_daily_average_minor"] != "10000" {
		t.Errorf("hit %+v", h)
	}
	if h.Status != monitoring.StatusReported || h.NoticeID != fmt.Sprintf("mon-%d", h.ID) || h.ReportedAt == nil || !h.ReportedAt.Equal(e.clk.Now()) {
		t.Errorf("report state %+v", h)
	}
	got := e.rep.sent()
	if len(got) != 1 {
		t.Fatalf("reports %+v", got)
	}
	r := got[0]
	if r.customerID != "acme" || r.r.NoticeID != h.NoticeID || r.r.Source != account.SourceMonitoring || r.r.Category != "other" ||
		r.r.Severity != account.SeverityModerate || !strings.HasPrefix(r.r.Detail, "spend_spike:") || !strings.Contains(r.r.Detail, "55000") ||
		strings.Contains(r.r.Detail, "\n") {
		t.Errorf("report %+v", r)
	}
	if hs := e.hits(t, "acme"); len(hs) != 1 || hs[0].Status != "reported" || hs[0].Attempts != 1 || hs[0].NoticeID != h.NoticeID {
		t.Errorf("stored hits %+v", hs)
	}
}

func TestNewHighRiskRegion(t *testing.T) {
	e := setup(t)
	day := 24 * time.Hour
	res := e.ingest(t,
		login("g1", "globex", "DE", t0.Add(-30*day)),
		inRegion(usage("g2", "globex", t0.Add(-20*day), 100), "VN"), // usage does not fire, but VN is seen
		login("g3", "globex", "af-south-1", t0.Add(-10*day)),        // ZA, high: fires
		login("g4", "globex", "sa-east-1", t0.Add(-9*day)),          // BR, medium: does not
	)
	if len(res.Hits) != 1 || res.Hits[0].EventID != "g3" || res.Hits[0].Rule != risk.RuleNewHighRiskRegion ||
		res.Hits[0].Evidence["country"] != "ZA" || res.Hits[0].Evidence["tier"] != "high" {
		t.Fatalf("first batch hits %+v", res.Hits)
	}
	e.clk.Advance(25 * time.Hour) // past the quiet period of g3's hit

	// ZA and VN were seen 10 and 20 days ago, beyond the windowed history:
	// the seen-regions table remembers them.
	rc := resource("g7", "globex", "Standard_D2s_v3", t0.Add(time.Minute))
	rc.Region = "RU"
	res = e.ingest(t,
		login("g5", "globex", "ZA", t0),
		login("g6", "globex", "VN", t0),
		rc, // RU, blocked: fires
		login("g8", "globex", "NG-LA", t0.Add(2*time.Minute)), // NG, high: fires, but within RU's quiet period
		login("g9", "globex", "RU", t0.Add(3*time.Minute)),    // RU again: seen
	)
	if len(res.Hits) != 2 {
		t.Fatalf("second batch hits %+v", res.Hits)
	}
	ru, ng := res.Hits[0], res.Hits[1]
	if ru.EventID != "g7" || ru.Evidence["tier"] != "blocked" || ru.Status != monitoring.StatusReported {
		t.Errorf("RU hit %+v", ru)
	}
	if ng.EventID != "g8" || ng.Evidence["country"] != "NG" || ng.Status != monitoring.StatusSuppressed || ng.SuppressedBy != ru.ID {
		t.Errorf("NG hit %+v", ng)
	}
	got := e.rep.sent()
	if len(got) != 2 || got[0].r.Category != "other" || !strings.Contains(got[0].r.Detail, "af-south-1") ||
		!strings.Contains(got[1].r.Detail, "RU") {
		t.Errorf("reports %+v", got)
	}

	// An event older than everything seen in its region is the first there.
	res = e.ingest(t, login("g10", "globex", "VN", t0.Add(-40*day)))
	if len(res.Hits) != 1 || res.Hits[0].EventID != "g10" {
		t.Errorf("late first VN event: %+v", res.Hits)
	}
	var first string
	if err := e.db.Get(&first, `SELECT first_event_id FROM activity_regions WHERE customer_id = 'globex' AND region = 'VN'`); err != nil || first != "g10" {
		t.Errorf("VN first seen by %q, %v", first, err)
	}
}

func TestCryptoMiningResource(t *testing.T) {
	e := setup(t)
	res := e.ingest(t,
		resource("c1", "hooli", "Standard_NC6s_v3", t0),
		resource("c2", "pied", "p3.2xlarge", t0),
		resource("c3", "pied", "t3.micro", t0.Add(time.Minute)),
	)
	if len(res.Hits) != 2 {
		t.Fatalf("hits %+v", res.Hits)
	}
	for _, h := range res.Hits {
		if h.Rule != risk.RuleCryptoMining || h.Severity != account.SeveritySevere || h.Status != monitoring.StatusReported {
			t.Errorf("hit %+v", h)
		}
	}
	got := e.rep.sent()
	if len(got) != 2 {
		t.Fatalf("reports %+v", got)
	}
	for _, s := range got {
		if s.r.Category != "crypto_mining" || s.r.Severity != account.SeveritySevere || !strings.HasPrefix(s.r.Detail, "crypto_mining_resource:") {
			t.Errorf("report %+v", s)
		}
	}
	if !strings.Contains(got[0].r.Detail, "Standard_NC6s_v3") || !strings.Contains(got[0].r.Detail, "standard_nc*") {
		t.Errorf("detail %q", got[0].r.Detail)
	}
}

func TestAccountChangeBurst(t *testing.T) {
	e := setup(t)
	// 7 changes in 30 minutes, sent out of order: judged in time order, the
	// 6th and 7th exceed 5 per hour; the 7th is within the 6th's quiet period.
	var evs []risk.ActivityEvent
	for i := range 7 {
		evs = append(evs, event(fmt.Sprintf("b%d", i+1), "umbrella", risk.KindAccountChange, t0.Add(time.Duration(i)*5*time.Minute)))
	}
	rand.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	res := e.ingest(t, evs...)
	if len(res.Hits) != 2 {
		t.Fatalf("hits %+v", res.Hits)
	}
	first, second := res.Hits[0], res.Hits[1]
	if first.EventID != "b6" || first.Rule != risk.RuleAccountChangeBurst || first.Evidence["changes"] != "6" || first.Status != monitoring.StatusReported {
		t.Errorf("first hit %+v", first)
	}
	if second.EventID != "b7" || second.Status != monitoring.StatusSuppressed || second.SuppressedBy != first.ID || second.ReportedAt != nil {
		t.Errorf("second hit %+v", second)
	}
	if got := e.rep.sent(); len(got) != 1 || got[0].r.NoticeID != first.NoticeID || !strings.Contains(got[0].r.Detail, "6 account changes") {
		t.Errorf("reports %+v", got)
	}

	// A burst split over two ingests: the second sees the first's events.
	for i := range 3 {
		e.ingest(t, event(fmt.Sprintf("s%d", i), "split", risk.KindAccountChange, t0.Add(time.Duration(i)*time.Minute)))
	}
	res = e.ingest(t,
		event("s3", "split", risk.KindAccountChange, t0.Add(3*time.Minute)),
		event("s4", "split", risk.KindAccountChange, t0.Add(4*time.Minute)),
		event("s5", "split", risk.KindAccountChange, t0.Add(5*time.Minute)))
	if len(res.Hits) != 1 || res.Hits[0].EventID != "s5" {
		t.Errorf("split burst hits %+v", res.Hits)
	}
}

func TestDuplicatesStoredOnceAndNeverReportedAgain(t *testing.T) {
	e := setup(t)
	c1 := resource("d1", "dup", "standard_nd40rs_v2", t0)
	res := e.ingest(t, c1, login("d2", "dup", "DE", t0), c1)
	if res.Received != 3 || res.Stored != 2 || res.Duplicates != 1 || len(res.Hits) != 1 {
		t.Fatalf("first ingest %+v", res)
	}
	// Sent again, later, even changed: stored once, judged once.
	e.clk.Advance(48 * time.Hour)
	changed := c1
	changed.ResourceType = "p4d.24xlarge"
	res = e.ingest(t, c1, login("d2", "dup", "DE", t0), changed)
	if res.Stored != 0 || res.Duplicates != 3 || len(res.Hits) != 0 {
		t.Fatalf("second ingest %+v", res)
	}
	if n := e.count(t, `SELECT count(*) FROM activity_events`); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
	if n := e.count(t, `SELECT count(*) FROM monitoring_hits`); n != 1 {
		t.Errorf("%d hits stored, want 1", n)
	}
	if n := e.reportPending(t); n != 0 || len(e.rep.sent()) != 1 || e.rep.tries() != 1 {
		t.Errorf("ReportPending reported %d; reports %+v", n, e.rep.sent())
	}
	var raw string
	if err := e.db.Get(&raw, `SELECT raw->>'resource_type' FROM activity_events WHERE event_id = 'd1'`); err != nil || raw != "standard_nd40rs_v2" {
		t.Errorf("raw resource_type %q, %v", raw, err)
	}
}

func TestSuppressionQuietPeriod(t *testing.T) {
	e := setup(t)
	at := t0
	mining := func(id, customer string) risk.ActivityEvent {
		at = at.Add(time.Minute)
		return resource(id, customer, "standard_nv6", at)
	}
	first := e.ingest(t, mining("q1", "initech")).Hits[0]
	if first.Status != monitoring.StatusReported {
		t.Fatalf("first hit %+v", first)
	}
	e.clk.Advance(time.Hour)
	if h := e.ingest(t, mining("q2", "initech")).Hits[0]; h.Status != monitoring.StatusSuppressed || h.SuppressedBy != first.ID {
		t.Errorf("within the quiet period: %+v", h)
	}
	// Another customer, and another rule for the same customer, are not.
	if h := e.ingest(t, mining("q3", "other")).Hits[0]; h.Status != monitoring.StatusReported {
		t.Errorf("other customer: %+v", h)
	}
	if h := e.ingest(t, login("q4", "initech", "KP", at)).Hits[0]; h.Status != monitoring.StatusReported || h.Rule != risk.RuleNewHighRiskRegion {
		t.Errorf("other rule: %+v", h)
	}
	e.clk.Advance(23*time.Hour + time.Second) // 24h and a second after the first report
	if h := e.ingest(t, mining("q5", "initech")).Hits[0]; h.Status != monitoring.StatusReported {
		t.Errorf("after the quiet period: %+v", h)
	}

	e.ing.QuietPeriod = 2 * time.Hour
	e.clk.Advance(time.Hour)
	if h := e.ingest(t, mining("q6", "initech")).Hits[0]; h.Status != monitoring.StatusSuppressed {
		t.Errorf("within a 2h quiet period: %+v", h)
	}
	e.clk.Advance(time.Hour + time.Second)
	if h := e.ingest(t, mining("q7", "initech")).Hits[0]; h.Status != monitoring.StatusReported {
		t.Errorf("after a 2h quiet period: %+v", h)
	}
	e.ing.QuietPeriod = -1
	if h := e.ingest(t, mining("q8", "initech")).Hits[0]; h.Status != monitoring.StatusReported {
		t.Errorf("no quiet period: %+v", h)
	}
	if n := len(e.rep.sent()); n != 6 {
		t.Errorf("%d reports, want 6", n)
	}
	if n := e.count(t, `SELECT count(*) FROM monitoring_hits`); n != 8 {
		t.Errorf("%d hits stored, want 8 (suppressed ones too)", n)
	}
}

func TestReporterFailureThenReportPendingOnce(t *testing.T) {
	e := setup(t)
	down := errors.New("temporal unavailable")
	e.rep.setFail(func(string, account.AbuseReport) error { return down })

	h := e.ingest(t, resource("f1", "wayne", "a2-highgpu-1g", t0)).Hits[0]
	if h.Status != monitoring.StatusPending || !strings.Contains(h.ReportError, "temporal unavailable") || h.Attempts != 1 {
		t.Fatalf("hit after a failed report %+v", h)
	}
	// While it is pending, later hits of the rule do not pile up reports.
	if h2 := e.ingest(t, resource("f2", "wayne", "a2-highgpu-2g", t0.Add(time.Minute))).Hits[0]; h2.Status != monitoring.StatusSuppressed || h2.SuppressedBy != h.ID {
		t.Errorf("hit while the first is pending %+v", h2)
	}
	if n := e.reportPending(t); n != 0 || e.rep.tries() != 1 {
		t.Errorf("before the backoff: reported %d, %d tries", n, e.rep.tries())
	}
	// Still failing once due: the error is returned, the hit stays pending.
	e.clk.Advance(61 * time.Second)
	if n, err := e.ing.ReportPending(context.Background()); n != 0 || !errors.Is(err, down) {
		t.Errorf("failing again: %d, %v", n, err)
	}
	if hs := e.hits(t, "wayne"); hs[0].Status != "pending" || hs[0].Attempts != 2 || hs[0].ReportedAt != nil {
		t.Errorf("after two failures %+v", hs[0])
	}

	e.rep.setFail(nil)
	e.clk.Advance(time.Minute) // the second backoff is 2 minutes
	if n := e.reportPending(t); n != 0 {
		t.Errorf("before the second backoff: reported %d", n)
	}
	e.clk.Advance(time.Minute + time.Second)
	if n := e.reportPending(t); n != 1 {
		t.Errorf("after the backoff: reported %d, want 1", n)
	}
	e.clk.Advance(time.Hour)
	if n := e.reportPending(t); n != 0 {
		t.Errorf("again: reported %d, want 0", n)
	}
	got := e.rep.sent()
	if len(got) != 1 || got[0].r.NoticeID != h.NoticeID {
		t.Errorf("reports %+v, want exactly one of %s", got, h.NoticeID)
	}
	if hs := e.hits(t, "wayne"); hs[0].Status != "reported" || hs[0].ReportError != "" || hs[0].Attempts != 3 {
		t.Errorf("after success %+v", hs[0])
	}
}

func TestIngestStopsReportingAfterAFailureAndReportPendingPicksUp(t *testing.T) {
	e := setup(t)
	e.rep.setFail(func(string, account.AbuseReport) error { return errors.New("deadline exceeded") })
	res := e.ingest(t, resource("x1", "cust-a", "g4dn.xlarge", t0), resource("x2", "cust-b", "g4dn.xlarge", t0))
	if len(res.Hits) != 2 || e.rep.tries() != 1 {
		t.Fatalf("hits %+v, %d tries: want the second left alone after the first failed", res.Hits, e.rep.tries())
	}
	if res.Hits[1].Status != monitoring.StatusPending || res.Hits[1].Attempts != 0 {
		t.Errorf("untried hit %+v", res.Hits[1])
	}
	e.rep.setFail(nil)
	// The untried hit is leased to the ingest that stored it (as if it were
	// still reporting, or had died); after the lease ReportPending takes it.
	if n := e.reportPending(t); n != 0 {
		t.Errorf("during the lease: reported %d", n)
	}
	e.clk.Advance(2*time.Minute + time.Second)
	if n := e.reportPending(t); n != 2 {
		t.Errorf("after the lease and backoff: reported %d, want 2", n)
	}
	if len(e.rep.sent()) != 2 {
		t.Errorf("reports %+v", e.rep.sent())
	}
}

func TestUnknownCustomerIsNotRetried(t *testing.T) {
	e := setup(t)
	e.rep.setFail(func(customerID string, _ account.AbuseReport) error {
		if customerID == "ghost" {
			return fmt.Errorf("%w: no workflow customer-ghost", monitoring.ErrUnknownCustomer)
		}
		return nil
	})
	res := e.ingest(t, resource("u1", "ghost", "standard_nc24", t0))
	if res.Stored != 1 || len(res.Hits) != 1 {
		t.Fatalf("result %+v", res)
	}
	if h := res.Hits[0]; h.Status != monitoring.StatusFailed || !strings.Contains(h.ReportError, "unknown customer") {
		t.Errorf("hit %+v", h)
	}
	// Activity of a customer billing does not know is stored all the same.
	if n := e.count(t, `SELECT count(*) FROM activity_events WHERE customer_id = 'ghost'`); n != 1 {
		t.Errorf("%d ghost events stored", n)
	}
	e.clk.Advance(48 * time.Hour)
	if n := e.reportPending(t); n != 0 || e.rep.tries() != 1 {
		t.Errorf("ReportPending reported %d after %d tries; an unknown customer is not retried", n, e.rep.tries())
	}
	if hs := e.hits(t, "ghost"); hs[0].Status != "failed" || hs[0].Attempts != 1 {
		t.Errorf("stored hit %+v", hs[0])
	}
	// A refusal is final too.
	e.rep.setFail(func(string, account.AbuseReport) error {
		return fmt.Errorf("%w: account is terminated", monitoring.ErrRejected)
	})
	if h := e.ingest(t, resource("u2", "gone", "standard_nc24", t0)).Hits[0]; h.Status != monitoring.StatusFailed {
		t.Errorf("refused hit %+v", h)
	}
}

func TestInvalidEventsAreSkippedWithTheirReason(t *testing.T) {
	e := setup(t)
	bad := usage("bad-1", "acme", t0, -5)
	res, err := e.ing.Ingest(context.Background(), []risk.ActivityEvent{
		login("ok-1", "acme", "DE", t0),
		bad,
		{EventID: "no-time", CustomerID: "acme", Kind: risk.KindLogin},
		login("ok-2", "acme", "DE\x00", t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 4 || res.Stored != 1 || len(res.Invalid) != 3 {
		t.Fatalf("result %+v", res)
	}
	want := []struct {
		index int
		id    string
		msg   string
	}{{1, "bad-1", "amount_minor must be positive"}, {2, "no-time", "at is required"}, {3, "ok-2", "NUL"}}
	for i, w := range want {
		got := res.Invalid[i]
		if got.Index != w.index || got.EventID != w.id || got.Line != 0 || !strings.Contains(got.Error, w.msg) {
			t.Errorf("invalid[%d] = %+v, want index %d, %s, %q", i, got, w.index, w.id, w.msg)
		}
	}
}

func TestIngestJSONLines(t *testing.T) {
	e := setup(t)
	lines := []string{
		`{"event_id":"l1","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"login","region":"DE"}`,
		``,
		`{not json`,
		`{"event_id":"l4","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"usage","amount":5}`,
		`{"event_id":"l5","customer_id":"acme","at":"yesterday","kind":"login"}`,
		`{"event_id":"l6","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"usage","amount_minor":-5}`,
		`   {"event_id":"l7","customer_id":"acme","at":"2025-03-10T12:01:00.123456789+01:00","kind":"resource_created","resource_type":"Standard_NC6"}  `,
		`{"event_id":"l8","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"usage","amount_minor":"12"}`,
		`{"event_id":"l9","customer_id":"acme","at":"2025-03-10T12:00:00Z","kind":"login"} {"event_id":"l10"}`,
		"",
	}
	res, err := monitoring.IngestJSONLines(context.Background(), e.ing, strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 8 || res.Stored != 2 || len(res.Hits) != 1 || res.Hits[0].EventID != "l7" {
		t.Fatalf("result %+v", res)
	}
	want := []struct {
		line, index int
		msg         string
	}{
		{3, 1, "not a JSON object"},
		{4, 2, `unknown field "amount"`},
		{5, 3, `at "yesterday" is not an RFC 3339 time`},
		{6, 4, "amount_minor must be positive"},
		{8, 6, "field amount_minor has type string"},
		{9, 7, "more than one JSON value"},
	}
	if len(res.Invalid) != len(want) {
		t.Fatalf("invalid %+v", res.Invalid)
	}
	for i, w := range want {
		got := res.Invalid[i]
		if got.Line != w.line || got.Index != w.index || !strings.Contains(got.Error, w.msg) {
			t.Errorf("invalid[%d] = %+v, want line %d index %d %q", i, got, w.line, w.index, w.msg)
		}
		// Same verdict as risk.ParseActivityEvents on the line alone.
		if _, err := risk.ParseActivityEvents(strings.NewReader(lines[w.line-1])); err == nil {
			t.Errorf("line %d: risk.ParseActivityEvents accepts what we refused", w.line)
		}
	}
	for _, n := range []int{1, 7} {
		if _, err := risk.ParseActivityEvents(strings.NewReader(lines[n-1])); err != nil {
			t.Errorf("line %d: risk.ParseActivityEvents refuses what we stored: %v", n, err)
		}
	}
	// The line as received is kept; the time is stored to the microsecond.
	var row struct {
		Raw string    `db:"raw"`
		At  time.Time `db:"at"`
	}
	if err := e.db.Get(&row, `SELECT raw::text AS raw, at FROM activity_events WHERE event_id = 'l7'`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row.Raw, `"Standard_NC6"`) || !row.At.Equal(time.Date(2025, 3, 10, 11, 1, 0, 123456000, time.UTC)) {
		t.Errorf("stored l7 %+v", row)
	}
}

func TestDetailIsOneBoundedLine(t *testing.T) {
	ev := map[string]string{"note": strings.Repeat("é\n", 800), "event_id": "x"}
	d := monitoring.Detail("future_rule", ev)
	if len(d) > 1000 || strings.Contains(d, "\n") || !strings.HasPrefix(d, "future_rule: event_id=x note=") {
		t.Errorf("detail %d bytes: %.80q", len(d), d)
	}
	if err := (account.AbuseReport{NoticeID: "mon-1", Source: "monitoring", Category: "other", Detail: d}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestIngesterNeedsItsParts(t *testing.T) {
	e := setup(t)
	for name, ing := range map[string]*monitoring.Ingester{
		"no config":   {DB: e.db, Reporter: e.rep},
		"no reporter": {DB: e.db, Config: e.ing.Config},
	} {
		if _, err := ing.Ingest(context.Background(), []risk.ActivityEvent{login("n1", "acme", "DE", t0)}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM activity_events`); n != 0 {
		t.Errorf("%d events stored by a misconfigured Ingester", n)
	}
}
