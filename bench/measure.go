package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// Breakdown is what a stretch of history really did, counted in the units
// of the justified minimum: timers that fired or were cancelled (waits), activities
// scheduled, local-activity records, workflow tasks that had a reason to
// run (wake-ups) and updates accepted.
type Breakdown struct {
	Waits      int `json:"waits"`
	Activities int `json:"activities"`
	Records    int `json:"records"`
	WakeUps    int `json:"wake_ups"`
	Updates    int `json:"updates"`
}

// Events per unit of the justified minimum (issue 14): a wait is a timer
// started and fired (or cancelled), an activity is scheduled, started and completed, a
// record is one local-activity marker, a wake-up is a workflow task
// scheduled, started and completed, an update is accepted and completed.
const (
	eventsPerWait     = 2
	eventsPerActivity = 3
	eventsPerRecord   = 1
	eventsPerWakeUp   = 3
	eventsPerUpdate   = 2
)

// Minimum is the number of history events those calls cannot do without.
func (b Breakdown) Minimum() int {
	return eventsPerWait*b.Waits + eventsPerActivity*b.Activities + eventsPerRecord*b.Records +
		eventsPerWakeUp*b.WakeUps + eventsPerUpdate*b.Updates
}

// Add sums two breakdowns.
func (b Breakdown) Add(o Breakdown) Breakdown {
	return Breakdown{b.Waits + o.Waits, b.Activities + o.Activities, b.Records + o.Records, b.WakeUps + o.WakeUps, b.Updates + o.Updates}
}

// Classify counts the events of a history stretch and what of it is
// justified. A workflow task is justified only when something woke the
// workflow: a timer fired, an activity completed or an update arrived, so
// wake-ups are the workflow tasks completed, at most one per such cause.
func Classify(events []*historypb.HistoryEvent) (total int, b Breakdown) {
	tasks, causes := 0, 0
	for _, ev := range events {
		total++
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			b.Waits++
			causes++
		case enumspb.EVENT_TYPE_TIMER_CANCELED:
			// A wait cut short (a reminder the payment made moot): the
			// product needed it, and letting it fire would cost more.
			b.Waits++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			b.Activities++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			causes++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == localActivityMarker {
				b.Records++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			b.Updates++
			causes++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tasks++
		}
	}
	b.WakeUps = min(tasks, causes)
	return total, b
}

// localActivityMarker is the marker the Go SDK records for a local
// activity's result (internal_event_handlers.go, localActivityMarkerName).
const localActivityMarker = "LocalActivity"

// Between keeps the events of all runs with from <= time < to, as
// e2e.BenchmarkHistoryEventsPerCustomerMonth counts them.
func Between(runs [][]*historypb.HistoryEvent, from, to time.Time) []*historypb.HistoryEvent {
	var out []*historypb.HistoryEvent
	for _, h := range runs {
		for _, ev := range h {
			t := ev.GetEventTime().AsTime()
			if !t.Before(from) && t.Before(to) {
				out = append(out, ev)
			}
		}
	}
	return out
}

// NoticeDone is when the first SendNotice activity whose input names the
// template completed: the notice was recorded in the outbox and sent (the
// product) or returned (the skeleton). Both write the template into the
// input as "template":"<name>".
func NoticeDone(events []*historypb.HistoryEvent, template string) (scheduled int64, done time.Time, ok bool) {
	needle := []byte(`"template":"` + template + `"`)
	for _, ev := range events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && scheduled == 0 && a.GetActivityType().GetName() == noticeActivity {
			for _, p := range a.GetInput().GetPayloads() {
				if strings.Contains(string(p.GetData()), string(needle)) {
					scheduled = ev.GetEventId()
				}
			}
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && scheduled != 0 && a.GetScheduledEventId() == scheduled {
			return scheduled, ev.GetEventTime().AsTime(), true
		}
	}
	return scheduled, time.Time{}, false
}

// noticeActivity is the product's notice activity (activities.SendNotice);
// the skeleton registers its no-op under the same name.
const noticeActivity = "SendNotice"

// DueAt is the instant the timer that woke the workflow for the notice
// scheduled as event scheduledID was set to fire: the last timer fired
// before it, at its start time plus its duration.
func DueAt(events []*historypb.HistoryEvent, scheduledID int64) (time.Time, bool) {
	started := map[int64]*historypb.HistoryEvent{}
	var due time.Time
	ok := false
	for _, ev := range events {
		if ev.GetEventId() >= scheduledID {
			break
		}
		switch {
		case ev.GetTimerStartedEventAttributes() != nil:
			started[ev.GetEventId()] = ev
		case ev.GetTimerFiredEventAttributes() != nil:
			if s := started[ev.GetTimerFiredEventAttributes().GetStartedEventId()]; s != nil {
				due = s.GetEventTime().AsTime().Add(s.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration())
				ok = true
			}
		}
	}
	return due, ok
}

// Percentile is the nearest-rank percentile (p in 0..100) of ds; zero for
// none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Row is one line of the comparison: a figure for the product and the
// skeleton. A figure that does not apply is NaN and prints as "-".
type Row struct {
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Product  float64 `json:"product"`
	Skeleton float64 `json:"skeleton"`
}

// Ratio is product / skeleton, NaN when it means nothing.
func (r Row) Ratio() float64 {
	if math.IsNaN(r.Product) || math.IsNaN(r.Skeleton) || r.Skeleton == 0 {
		return math.NaN()
	}
	return r.Product / r.Skeleton
}

func figure(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v != 0 && math.Abs(v) < 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// Table prints the rows aligned, with the ratio column.
func Table(rows []Row) string {
	var b strings.Builder
	w := len("metric")
	for _, r := range rows {
		w = max(w, len(r.Metric)+len(r.Unit)+3)
	}
	fmt.Fprintf(&b, "%-*s %12s %12s %8s\n", w, "metric", "product", "skeleton", "ratio")
	for _, r := range rows {
		ratio := "-"
		if x := r.Ratio(); !math.IsNaN(x) {
			ratio = fmt.Sprintf("%.2fx", x)
		}
		fmt.Fprintf(&b, "%-*s %12s %12s %8s\n", w, r.Metric+" ("+r.Unit+")", figure(r.Product), figure(r.Skeleton), ratio)
	}
	return b.String()
}

// JSONLine is the machine-readable form: every row with its ratio, NaN as
// null.
func JSONLine(kind string, rows []Row, extra map[string]any) string {
	num := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return math.Round(v*1000) / 1000
	}
	out := map[string]any{"bench": kind}
	for k, v := range extra {
		out[k] = v
	}
	var list []map[string]any
	for _, r := range rows {
		list = append(list, map[string]any{"metric": r.Metric, "unit": r.Unit, "product": num(r.Product), "skeleton": num(r.Skeleton), "ratio": num(r.Ratio())})
	}
	out["rows"] = list
	data, _ := json.Marshal(out)
	return string(data)
}
