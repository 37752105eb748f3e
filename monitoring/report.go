package monitoring

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/dunning/account"
	"github.com/example/dunning/risk"
)

// Reporter hands a hit to the customer's workflow as a ReportAbuse update.
// It must be idempotent on r.NoticeID (the workflow is).
type Reporter interface {
	ReportAbuse(ctx context.Context, customerID string, r account.AbuseReport) error
}

var (
	// ErrUnknownCustomer (wrapped or not) from a Reporter: the customer has
	// no workflow. The hit is marked failed and not retried.
	ErrUnknownCustomer = errors.New("unknown customer")
	// ErrRejected (wrapped or not) from a Reporter: the workflow refused the
	// report (a terminated account, one still in screening). Retrying would
	// get the same answer, so the hit is marked failed and not retried.
	ErrRejected = errors.New("report rejected by the workflow")
)

// SourceMonitoring is the AbuseReport source of every monitoring hit.
const SourceMonitoring = account.SourceMonitoring

const (
	// reportLease: a pending hit being reported is hidden from other
	// reporters this long; longer than reportTimeout.
	reportLease = 2 * time.Minute
	// reportTimeout bounds one Reporter call.
	reportTimeout = 30 * time.Second
	// reportBatch is how many pending hits ReportPending claims at a time.
	reportBatch = 100
)

// Category maps a monitoring rule to the ReportAbuse category.
func Category(rule string) string {
	if rule == risk.RuleCryptoMining {
		return "crypto_mining"
	}
	return "other"
}

// AbuseReport is the ReportAbuse update for a hit.
func AbuseReport(h StoredHit) account.AbuseReport {
	return account.AbuseReport{
		NoticeID: h.NoticeID,
		Category: Category(h.Rule),
		Source:   SourceMonitoring,
		Severity: h.Severity,
		Detail:   Detail(h.Rule, h.Evidence),
	}
}

// maxDetail is AbuseReport.Validate's limit on detail.
const maxDetail = 1000

// Detail is one line naming the rule and its key evidence, for staff
// reading the review the report opens.
func Detail(rule string, ev map[string]string) string {
	var s string
	switch rule {
	case risk.RuleSpendSpike:
		s = fmt.Sprintf("%s: day spend %s minor units (day from %s) is over %sx the trailing %s-day daily average of %s (minimum %s), event %s",
			rule, ev["day_spend_minor"], ev["day_start"], ev["multiplier"], ev["trailing_days"],
			ev["trailing_daily_average_minor"], ev["min_day_spend_minor"], ev["event_id"])
	case risk.RuleNewHighRiskRegion:
		s = fmt.Sprintf("%s: first %s from region %s (country %s, tier %s), event %s",
			rule, ev["kind"], ev["region"], ev["country"], ev["tier"], ev["event_id"])
	case risk.RuleCryptoMining:
		s = fmt.Sprintf("%s: resource type %s matches %s (region %s), event %s",
			rule, ev["resource_type"], ev["pattern"], orNone(ev["region"]), ev["event_id"])
	case risk.RuleAccountChangeBurst:
		s = fmt.Sprintf("%s: %s account changes within %s since %s (max %s), event %s",
			rule, ev["changes"], ev["window"], ev["since"], ev["max_changes"], ev["event_id"])
	default:
		parts := []string{rule + ":"}
		for _, k := range slices.Sorted(maps.Keys(ev)) {
			parts = append(parts, k+"="+ev[k])
		}
		s = strings.Join(parts, " ")
	}
	// One line, within the limit, cut at a rune boundary.
	return truncate(strings.Join(strings.Fields(s), " "), maxDetail)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// reportRun is one Ingest's reporting: after a failure that may be the
// workflow service being down, the rest of the call's hits are left to
// ReportPending rather than each waiting for its own timeout.
type reportRun struct{ tripped bool }

// reportNew reports a hit Ingest just stored (and leased).
func (ing *Ingester) reportNew(ctx context.Context, run *reportRun, h *StoredHit) {
	if run.tripped {
		return
	}
	if err := ing.attempt(ctx, h); err != nil {
		run.tripped = true
	}
}

// attempt reports a pending hit and records the outcome in the row and in
// h. It returns the Reporter's error when the hit stays pending (a
// transient failure, retried later with backoff); unknown customers and
// refusals are recorded as failed and return nil.
func (ing *Ingester) attempt(ctx context.Context, h *StoredHit) error {
	rctx, cancel := context.WithTimeout(ctx, reportTimeout)
	err := ing.Reporter.ReportAbuse(rctx, h.CustomerID, AbuseReport(*h))
	cancel()
	if ctx.Err() != nil {
		// Shutting down: the lease runs out and ReportPending retries.
		return ctx.Err()
	}
	now := ing.now()
	log := ing.logger().With("hit_id", h.ID, "notice_id", h.NoticeID, "customer_id", h.CustomerID, "rule", h.Rule)
	switch {
	case err == nil:
		if _, dbErr := ing.DB.ExecContext(ctx, `
			UPDATE monitoring_hits SET report_status = 'reported', reported_at = $2, next_attempt_at = NULL,
				report_attempts = report_attempts + 1, report_error = ''
			WHERE id = $1 AND report_status = 'pending'`, h.ID, now); dbErr != nil {
			// Reported but not recorded: the retry is a duplicate notice ID,
			// which the workflow ignores.
			log.Error("monitoring hit reported but not recorded", "error", dbErr)
			return dbErr
		}
		h.Status, h.ReportedAt, h.ReportError = StatusReported, &now, ""
		h.Attempts++
		log.Info("monitoring hit reported", "severity", h.Severity)
		return nil
	case errors.Is(err, ErrUnknownCustomer), errors.Is(err, ErrRejected):
		msg := truncate(err.Error(), 500)
		if _, dbErr := ing.DB.ExecContext(ctx, `
			UPDATE monitoring_hits SET report_status = 'failed', next_attempt_at = NULL,
				report_attempts = report_attempts + 1, report_error = $2
			WHERE id = $1 AND report_status = 'pending'`, h.ID, msg); dbErr != nil {
			log.Error("monitoring hit failure not recorded", "error", dbErr)
			return dbErr
		}
		h.Status, h.ReportError = StatusFailed, msg
		h.Attempts++
		log.Warn("monitoring hit not reported, will not retry", "error", err)
		return nil
	default:
		msg := truncate(err.Error(), 500)
		// Backoff 1, 2, 4 ... minutes, at most an hour, but never given up:
		// the workflow service being down must delay reports, not lose them.
		if _, dbErr := ing.DB.ExecContext(ctx, `
			UPDATE monitoring_hits SET report_attempts = report_attempts + 1, report_error = $2,
				next_attempt_at = $3::timestamptz + least(interval '1 minute' * power(2, least(report_attempts, 10)), interval '1 hour')
			WHERE id = $1 AND report_status = 'pending'`, h.ID, msg, now); dbErr != nil {
			log.Error("monitoring hit failure not recorded", "error", dbErr)
		}
		h.ReportError = msg
		h.Attempts++
		log.Warn("monitoring hit report failed, will retry", "attempt", h.Attempts, "error", err)
		return err
	}
}

// ReportPending reports the hits that are due: those whose report failed
// and whose backoff has passed, and those an ingest stored but did not
// report (it stopped after a failure, or died). Call it periodically (every
// minute, say). It returns how many hits it reported. The error is the
// database's, or the first transient Reporter failure, after which it stops
// (the rest stay pending); unknown customers and refusals are recorded on
// the hit, not returned.
func (ing *Ingester) ReportPending(ctx context.Context) (int, error) {
	if ing.DB == nil || ing.Reporter == nil {
		return 0, errors.New("monitoring: Ingester needs DB and Reporter")
	}
	reported := 0
	for {
		if err := ctx.Err(); err != nil {
			return reported, err
		}
		now := ing.now()
		// Claim a batch with a lease; SKIP LOCKED lets several workers run
		// this at once without reporting the same hit twice.
		var rows []hitRow
		if err := ing.DB.SelectContext(ctx, &rows, `
			UPDATE monitoring_hits SET next_attempt_at = $2
			WHERE id IN (
				SELECT id FROM monitoring_hits
				WHERE report_status = 'pending' AND next_attempt_at <= $1
				ORDER BY next_attempt_at, id LIMIT $3
				FOR UPDATE SKIP LOCKED)
			RETURNING `+hitColumns, now, now.Add(reportLease), reportBatch); err != nil {
			return reported, fmt.Errorf("monitoring: claim pending hits: %w", err)
		}
		slices.SortFunc(rows, func(a, b hitRow) int { return cmp.Compare(a.ID, b.ID) })
		for _, r := range rows {
			h, err := r.hit()
			if err != nil {
				return reported, err
			}
			if err := ing.attempt(ctx, &h); err != nil {
				return reported, fmt.Errorf("monitoring: report hit %d (%s) failed, will retry: %w", h.ID, h.NoticeID, err)
			}
			if h.Status == StatusReported {
				reported++
			}
		}
		if len(rows) < reportBatch {
			return reported, nil
		}
	}
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
