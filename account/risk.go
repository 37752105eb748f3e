package account

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/policy"
)

// Screening is the onboarding decision and its reasons.
type Screening struct {
	Outcome Outcome  `json:"outcome"`
	Tier    string   `json:"tier"`
	Score   int      `json:"score"`
	Summary string   `json:"summary"`
	Reasons []string `json:"reasons"` // "rule: detail (+points)"
}

// Review kinds.
const (
	ReviewOnboarding = "onboarding"
	ReviewMisuse     = "misuse"
)

// Review is a decision staff owe: an application to judge, or reported
// misuse to confirm or clear.
type Review struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Source   string `json:"source,omitempty"`
	NoticeID string `json:"notice_id,omitempty"`
	// SubscriptionID is the subscription a misuse report named.
	SubscriptionID string    `json:"subscription_id,omitempty"`
	Category       string    `json:"category,omitempty"`
	Severity       Severity  `json:"severity,omitempty"`
	Reason         string    `json:"reason"`
	OpenedAt       time.Time `json:"opened_at"`
	Deadline       time.Time `json:"deadline"`
	Reminders      int       `json:"reminders"`          // staff reminders sent
	Lapsed         bool      `json:"lapsed,omitempty"`   // the deadline passed undecided
	Decision       string    `json:"decision,omitempty"` // once decided
	DecidedBy      string    `json:"decided_by,omitempty"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
}

func (a *Account) review(id string) *Review {
	for _, r := range a.Reviews {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// staffKeyPrefix starts the message keys of staff alerts about the customer.
func (a *Account) staffKeyPrefix() string { return a.Customer.CustomerID + ":staff:" }

// staffAlert is an event that tells the billing team something needs them.
func (a *Account) staffAlert(kind, summary string, detail map[string]string, now time.Time) Event {
	ev := a.newEvent(now, EventStaffAlerted, SystemActor, summary)
	d := map[string]string{"kind": kind, "summary": summary}
	for k, v := range detail {
		d[k] = v
	}
	ev.Detail = map[string]string{"kind": kind}
	ev.Notice = &Notice{
		Key:      a.staffKeyPrefix() + kind + ":" + strconv.Itoa(a.EventSeq),
		Template: "staff_alert", Stage: "staff_" + kind, Staff: true,
		Currency: a.Customer.Currency, BalanceMinor: a.Balance(), AmountMinor: a.Balance(),
		Reference: a.Customer.CustomerID, Detail: d,
	}
	return ev
}

// ApplyScreening acts on the onboarding decision. The risk tier may call
// for a stricter policy, which the workflow loads and passes in.
func (a *Account) ApplyScreening(s Screening, pol *policy.Policy, now time.Time) ([]Event, error) {
	if a.Status != StatusScreening {
		return nil, fmt.Errorf("account is %s, not in screening", a.Status)
	}
	a.Screening = &s
	a.RiskTier = s.Tier
	ev := a.newEvent(now, EventScreeningDecided, SystemActor, s.Summary)
	ev.Detail = map[string]string{"outcome": string(s.Outcome), "tier": s.Tier, "score": strconv.Itoa(s.Score),
		"reasons": strings.Join(s.Reasons, "; ")}
	if pol.ID() != a.Policy.ID() {
		ev.Detail["policy_from"], ev.Detail["policy_to"] = a.Policy.ID(), pol.ID()
		a.Policy = pol
	}
	events := []Event{ev}
	switch s.Outcome {
	case OutcomeApprove, OutcomeApprovePrepayment:
		approved, err := a.Approve(s.Outcome == OutcomeApprovePrepayment, SystemActor, "screening: "+string(s.Outcome), now)
		if err != nil {
			return nil, err
		}
		return append(events, approved...), nil
	case OutcomeReview:
		events = append(events, a.openOnboardingReview(s, now)...)
	case OutcomeReject:
		events = append(events, a.reject(SystemActor, "screening: "+s.Summary, now)...)
	default:
		return nil, fmt.Errorf("unknown screening outcome %q", s.Outcome)
	}
	return a.finish(events, now, SystemActor, "screening"), nil
}

func (a *Account) openOnboardingReview(s Screening, now time.Time) []Event {
	a.ReviewSeq++
	r := &Review{ID: fmt.Sprintf("review-%d", a.ReviewSeq), Kind: ReviewOnboarding, Reason: s.Summary,
		OpenedAt: now, Deadline: now.Add(a.Policy.ReviewRules().Onboarding)}
	a.Reviews = append(a.Reviews, r)
	a.Status = StatusManualReview
	ev := a.newEvent(now, EventReviewOpened, SystemActor, s.Summary)
	ev.Review = r
	ev.Detail = map[string]string{"review_id": r.ID, "kind": r.Kind, "deadline": r.Deadline.Format(time.RFC3339),
		"status_from": string(StatusScreening), "status_to": string(StatusManualReview)}
	ev.Notice = a.notice(nil, "manual_review", "manual_review", r.Deadline, now)
	alert := a.staffAlert("review_pending", "application needs a manual review by "+r.Deadline.Format(time.RFC3339),
		map[string]string{"review_id": r.ID, "reasons": strings.Join(s.Reasons, "; ")}, now)
	return []Event{ev, alert}
}

// reject ends an application. The customer gets a neutral email; the
// reasons stay in the audit log.
func (a *Account) reject(actor, reason string, now time.Time) []Event {
	var events []Event
	for _, inv := range slices.Clone(a.Invoices) {
		events = append(events, a.closeInvoice(inv, InvoiceVoid, now, actor, "application rejected")...)
	}
	from := a.Status
	a.Status = StatusTerminated
	a.Access = AccessNone
	a.TerminatedAt = now
	ev := a.newEvent(now, EventApplicationRejected, actor, reason)
	ev.Detail = map[string]string{"status_from": string(from), "status_to": string(StatusTerminated)}
	ev.Notice = a.notice(nil, "application_rejected", "application_rejected", time.Time{}, now)
	return append(events, ev)
}

// CheckAbuse is ReportAbuse's validator; severity comes from the risk
// configuration for the category (or the report itself).
func (a *Account) CheckAbuse(r AbuseReport) error {
	if err := r.Validate(); err != nil {
		return err
	}
	switch a.Status {
	case StatusTerminated:
		return fmt.Errorf("account is terminated")
	case StatusScreening, StatusManualReview, StatusAwaitingPrepayment:
		return fmt.Errorf("account is %s: it has no service to misuse yet", a.Status)
	}
	if r.SubscriptionID != "" {
		if s := findSub(a.SubscriptionsOrPlan(), r.SubscriptionID); s == nil || !s.live() {
			return fmt.Errorf("subscription %q is not a live subscription of customer %s", r.SubscriptionID, a.Customer.CustomerID)
		}
	}
	return nil
}

// ReportAbuse records reported misuse. A severe report suspends at once;
// every report opens a review with a response deadline (a provider's own
// deadline if it is sooner). A notice already recorded changes nothing.
func (a *Account) ReportAbuse(r AbuseReport, severity Severity, now time.Time) ([]Event, error) {
	if err := a.CheckAbuse(r); err != nil {
		return nil, err
	}
	if _, dup := a.AbuseNotices[r.NoticeID]; dup {
		return nil, nil
	}
	if r.Severity != "" {
		severity = r.Severity
	}
	if r.SubscriptionID != "" {
		a.EnableSubscriptions()
	}
	actor := r.Actor
	if actor == "" {
		actor = r.Source
	}
	return a.finish(a.openMisuseReview(r, severity, actor, now), now, actor, "misuse reported"), nil
}

// openMisuseReview opens the review of a misuse report (a severe one
// suspends at once) and alerts staff.
func (a *Account) openMisuseReview(r AbuseReport, severity Severity, actor string, now time.Time) []Event {
	deadline := now.Add(reviewWindow(a.Policy.ReviewRules(), severity))
	if !r.Deadline.IsZero() && r.Deadline.After(now) && r.Deadline.Before(deadline) {
		deadline = r.Deadline
	}
	a.ReviewSeq++
	rev := &Review{ID: fmt.Sprintf("review-%d", a.ReviewSeq), Kind: ReviewMisuse, Source: r.Source, NoticeID: r.NoticeID,
		Category: r.Category, Severity: severity, Reason: r.Detail, OpenedAt: now, Deadline: deadline, SubscriptionID: r.SubscriptionID}
	a.Reviews = append(a.Reviews, rev)
	if a.AbuseNotices == nil {
		a.AbuseNotices = map[string]string{}
	}
	a.AbuseNotices[r.NoticeID] = rev.ID
	typ := EventAbuseReported
	if r.Source == SourceProvider {
		typ = EventEnforcementAcknowledged
	}
	ev := a.newEvent(now, typ, actor, r.Detail)
	ev.Review = rev
	ev.Detail = map[string]string{"notice_id": r.NoticeID, "category": r.Category, "source": r.Source,
		"severity": string(severity), "review_id": rev.ID, "deadline": deadline.Format(time.RFC3339)}
	events := []Event{ev}
	switch {
	case severity == SeveritySevere:
		events = append(events, a.suspendForMisuse(rev, actor, now)...)
	case r.SubscriptionID != "" && severity == SeverityModerate:
		// Misuse of one subscription suspends that subscription.
		if sev, ok := a.suspendSubscriptions([]string{r.SubscriptionID}, ReasonMisuse, actor, "misuse: "+r.Category, now); ok {
			n := a.notice(nil, "abuse_suspension", "abuse_suspension", rev.Deadline, now)
			n.Detail = map[string]string{"category": r.Category, "notice_id": r.NoticeID, "subscriptions": sev.Detail["subscriptions"]}
			sev.Notice = n
			events = append(events, sev)
		}
	}
	events = append(events, a.staffAlert(alertKind(rev), fmt.Sprintf("%s report %s (%s, %s): decide by %s",
		r.Source, r.NoticeID, r.Category, severity, deadline.Format(time.RFC3339)),
		map[string]string{"review_id": rev.ID, "notice_id": r.NoticeID, "category": r.Category, "source": r.Source}, now))
	return events
}

func alertKind(r *Review) string {
	switch {
	case r.Kind == ReviewMisuse && r.Source == SourceProvider:
		return "enforcement_deadline"
	case r.Kind == ReviewMisuse && r.Source == SourceMonitoring:
		return "monitoring_hit"
	}
	return "review_pending"
}

// suspendForMisuse suspends with reason misuse and tells the customer how
// long they have to respond.
func (a *Account) suspendForMisuse(r *Review, actor string, now time.Time) []Event {
	events := a.suspend(ReasonMisuse, actor, "misuse: "+r.Category, r.NoticeID, now)
	if len(events) == 0 {
		return nil
	}
	n := a.notice(nil, "abuse_suspension", "abuse_suspension", r.Deadline, now)
	n.Detail = map[string]string{"category": r.Category, "notice_id": r.NoticeID}
	events[0].Notice = n
	return events
}

// CheckDecision is ReviewDecision's validator.
func (a *Account) CheckDecision(d Decision) (*Review, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var r *Review
	switch {
	case d.ReviewID != "":
		if r = a.review(d.ReviewID); r == nil {
			return nil, fmt.Errorf("review %q is not open", d.ReviewID)
		}
	case len(a.Reviews) == 1:
		r = a.Reviews[0]
	case len(a.Reviews) == 0:
		return nil, fmt.Errorf("customer %s has no open review", a.Customer.CustomerID)
	default:
		var ids []string
		for _, x := range a.Reviews {
			ids = append(ids, x.ID)
		}
		return nil, fmt.Errorf("several reviews are open (%s): name one with review_id", strings.Join(ids, ", "))
	}
	onboarding := r.Kind == ReviewOnboarding
	if onboarding != (d.Decision == DecisionApprove || d.Decision == DecisionReject) {
		if onboarding {
			return nil, fmt.Errorf("review %s is an onboarding review: decide approve or reject", r.ID)
		}
		return nil, fmt.Errorf("review %s is a misuse review: decide reinstate or terminate", r.ID)
	}
	return r, nil
}

// ReviewDecision applies staff's decision on a review.
func (a *Account) ReviewDecision(d Decision, now time.Time) ([]Event, error) {
	r, err := a.CheckDecision(d)
	if err != nil {
		return nil, err
	}
	r.Decision, r.DecidedBy, r.DecidedAt = d.Decision, d.Actor, now
	a.Reviews = slices.DeleteFunc(a.Reviews, func(x *Review) bool { return x == r })
	ev := a.newEvent(now, EventReviewDecided, d.Actor, d.Note)
	ev.Review = r
	ev.Detail = map[string]string{"review_id": r.ID, "kind": r.Kind, "decision": d.Decision}
	events := []Event{ev}
	switch d.Decision {
	case DecisionApprove:
		approved, err := a.Approve(true, d.Actor, "review "+r.ID+" approved", now)
		if err != nil {
			return nil, err
		}
		events = append(events, approved...)
	case DecisionReject:
		events = append(events, a.reject(d.Actor, "review "+r.ID+" rejected: "+d.Note, now)...)
	case DecisionReinstate:
		if !a.misuseReviewOpen() {
			events = append(events, a.lift([]string{ReasonMisuse, ReasonFraud}, d.Actor, "review "+r.ID+": no misuse", now)...)
			events = append(events, a.liftSubscriptions(ReasonMisuse, nil, d.Actor, "review "+r.ID+": no misuse", now)...)
		}
	case DecisionTerminate:
		events = append(events, a.terminate(d.Actor, "misuse confirmed in review "+r.ID, "misuse_terminated", nil, now)...)
	}
	return a.finish(events, now, d.Actor, "review "+r.ID+" decided"), nil
}

func (a *Account) misuseReviewOpen() bool {
	return slices.ContainsFunc(a.Reviews, func(r *Review) bool { return r.Kind == ReviewMisuse })
}

// reviewReminderAt is when the review's next staff reminder is due.
func (a *Account) reviewReminderAt(r *Review) (time.Time, bool) {
	fracs := a.Policy.ReviewRules().Reminders
	if r.Lapsed || r.Reminders >= len(fracs) {
		return time.Time{}, false
	}
	window := r.Deadline.Sub(r.OpenedAt)
	return r.OpenedAt.Add(time.Duration(float64(window) * fracs[r.Reminders])), true
}

func (a *Account) remindReview(r *Review, now time.Time) []Event {
	r.Reminders++
	ev := a.staffAlert(alertKind(r), fmt.Sprintf("reminder %d: review %s (%s) must be decided by %s",
		r.Reminders, r.ID, r.Kind, r.Deadline.Format(time.RFC3339)),
		map[string]string{"review_id": r.ID, "notice_id": r.NoticeID, "category": r.Category}, now)
	ev.Review = r
	return []Event{ev}
}

// lapseReview acts when staff did not decide in time: an application is
// rejected; reported misuse (unless minor) suspends the account. Either way
// staff are told.
func (a *Account) lapseReview(r *Review, now time.Time) []Event {
	r.Lapsed = true
	ev := a.newEvent(now, EventReviewLapsed, SystemActor, "not decided by "+r.Deadline.Format(time.RFC3339))
	ev.Review = r
	ev.Detail = map[string]string{"review_id": r.ID, "kind": r.Kind}
	events := []Event{ev}
	kind := "review_deadline"
	if r.Source == SourceProvider {
		kind = "enforcement_deadline"
	}
	switch {
	case r.Kind == ReviewOnboarding:
		a.Reviews = slices.DeleteFunc(a.Reviews, func(x *Review) bool { return x == r })
		events = append(events, a.reject(SystemActor, "review "+r.ID+" not decided in time", now)...)
	case r.Severity != SeverityMinor:
		events = append(events, a.suspendForMisuse(r, SystemActor, now)...)
	}
	events = append(events, a.staffAlert(kind, fmt.Sprintf("review %s (%s) passed its deadline undecided", r.ID, r.Kind),
		map[string]string{"review_id": r.ID, "notice_id": r.NoticeID}, now))
	return events
}
