package main

import (
	"math"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/example/dunning/policy"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// hist builds a history; each event is at t0 plus its index in seconds
// unless at says otherwise.
type hist struct{ events []*historypb.HistoryEvent }

func (h *hist) add(typ enumspb.EventType, at time.Duration, attrs func(*historypb.HistoryEvent)) int64 {
	ev := &historypb.HistoryEvent{EventId: int64(len(h.events) + 1), EventType: typ, EventTime: timestamppb.New(t0.Add(at))}
	if attrs != nil {
		attrs(ev)
	}
	h.events = append(h.events, ev)
	return ev.EventId
}

func (h *hist) task(at time.Duration) {
	h.add(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, at, nil)
	h.add(enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, at, nil)
	h.add(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, at, nil)
}

func (h *hist) timer(at, d time.Duration) int64 {
	return h.add(enumspb.EVENT_TYPE_TIMER_STARTED, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{StartToFireTimeout: durationpb.New(d)}}
	})
}

func (h *hist) fired(at time.Duration, started int64) {
	h.add(enumspb.EVENT_TYPE_TIMER_FIRED, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_TimerFiredEventAttributes{TimerFiredEventAttributes: &historypb.TimerFiredEventAttributes{StartedEventId: started}}
	})
}

func (h *hist) activity(at time.Duration, name, input string) int64 {
	return h.add(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
			ActivityType: &commonpb.ActivityType{Name: name}, Input: &commonpb.Payloads{Payloads: []*commonpb.Payload{{Data: []byte(input)}}}}}
	})
}

func (h *hist) completed(at time.Duration, scheduled int64) {
	h.add(enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, at, nil)
	h.add(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: scheduled}}
	})
}

func (h *hist) marker(at time.Duration, name string) {
	h.add(enumspb.EVENT_TYPE_MARKER_RECORDED, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: name}}
	})
}

// cycle is a billing cycle as the product records it: a billing timer set
// at 1 s for 10 s fires at 12 s (2 s late), the record, a version marker
// that is no news, the invoice notice completed at 13 s, a decoy notice of
// another template before it, and an update.
func cycle() *hist {
	h := &hist{}
	h.task(0)
	decoy := h.activity(0, "SendNotice", `{"notice":{"template":"phone_verification"}}`)
	h.completed(0, decoy)
	billing := h.timer(time.Second, 10*time.Second)
	h.fired(12*time.Second, billing)
	h.task(12 * time.Second)
	h.marker(12*time.Second, "Version")
	h.marker(12*time.Second, localActivityMarker)
	inv := h.activity(12*time.Second, "SendNotice", `{"notice":{"key":"k","template":"invoice_issued"}}`)
	h.completed(13*time.Second, inv)
	h.task(13 * time.Second)
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, 14*time.Second, nil)
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, 14*time.Second, nil)
	return h
}

func TestClassifyCountsWhatTheMinimumJustifies(t *testing.T) {
	h := cycle()
	total, b := Classify(h.events)
	if total != len(h.events) {
		t.Errorf("total %d, want %d", total, len(h.events))
	}
	// Three workflow tasks, four causes (two activity completions, a
	// timer, an update): three justified wake-ups.
	want := Breakdown{Waits: 1, Activities: 2, Records: 1, WakeUps: 3, Updates: 1}
	if b != want {
		t.Fatalf("breakdown %+v, want %+v", b, want)
	}
	if got := b.Minimum(); got != 2*1+3*2+1+3*3+2*1 {
		t.Errorf("minimum %d", got)
	}
}

func TestWakeUpsAreCappedByTheirCauses(t *testing.T) {
	h := &hist{}
	for range 4 {
		h.task(0) // four tasks, nothing woke the workflow for them
	}
	id := h.timer(0, time.Second)
	h.fired(time.Second, id)
	_, b := Classify(h.events)
	if b.WakeUps != 1 {
		t.Errorf("wake-ups %d, want 1 (one timer fired)", b.WakeUps)
	}
}

func TestMinimumArithmetic(t *testing.T) {
	b := Breakdown{Waits: 4, Activities: 5, Records: 6, WakeUps: 7, Updates: 3}
	if got, want := b.Minimum(), 8+15+6+21+6; got != want {
		t.Errorf("minimum %d, want %d", got, want)
	}
	if got := b.Add(b); got != (Breakdown{8, 10, 12, 14, 6}) {
		t.Errorf("add %+v", got)
	}
}

func TestNoticeDoneAndDueAt(t *testing.T) {
	h := cycle()
	sched, done, ok := NoticeDone(h.events, "invoice_issued")
	if !ok || !done.Equal(t0.Add(13*time.Second)) {
		t.Fatalf("invoice notice done %v %v", done, ok)
	}
	due, ok := DueAt(h.events, sched)
	if !ok || !due.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("due %v %v, want the timer's start plus its duration", due, ok)
	}
	if _, _, ok := NoticeDone(h.events, "prepayment_request"); ok {
		t.Error("found a notice that is not there")
	}
	// Scheduled but not completed yet: not done.
	if _, _, ok := NoticeDone(h.events[:len(h.events)-6], "invoice_issued"); ok {
		t.Error("a notice not yet completed counts as done")
	}
	if _, ok := DueAt(h.events, 2); ok {
		t.Error("a due time before any timer fired")
	}
}

func TestBetweenKeepsTheHalfOpenWindowOverRuns(t *testing.T) {
	a, b := cycle(), cycle()
	got := Between([][]*historypb.HistoryEvent{a.events, b.events}, t0.Add(12*time.Second), t0.Add(14*time.Second))
	// Per run: the fired timer, a task (3), two markers, the notice
	// scheduled, started and completed, the next task (3); not the update
	// at 14 s.
	if len(got) != 2*12 {
		t.Errorf("%d events, want 24", len(got))
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its input in place")
	}
	if Percentile(nil, 99) != 0 || Percentile([]time.Duration{7}, 99) != 7 {
		t.Error("empty or single")
	}
}

func TestRatioTableAndJSON(t *testing.T) {
	rows := []Row{{"onboarding throughput", "customers/s", 8, 20}, {"PG connections per onboarding", "new sessions", 3, math.NaN()}, {"zero", "x", 1, 0}}
	if r := rows[0].Ratio(); r != 0.4 {
		t.Errorf("ratio %v", r)
	}
	if !math.IsNaN(rows[1].Ratio()) || !math.IsNaN(rows[2].Ratio()) {
		t.Error("a ratio against nothing or zero must be NaN")
	}
	table := Table(rows)
	if !strings.Contains(table, "0.40x") || !strings.Contains(table, "onboarding throughput (customers/s)") {
		t.Errorf("table:\n%s", table)
	}
	line := JSONLine("compare", rows, map[string]any{"customers": 3})
	for _, want := range []string{`"ratio":0.4`, `"skeleton":null`, `"customers":3`, `"bench":"compare"`} {
		if !strings.Contains(line, want) {
			t.Errorf("JSON %s lacks %s", line, want)
		}
	}
}

func TestPerThousand(t *testing.T) {
	if got := PerThousand(10<<20, 30<<20, 500); got != float64(40<<20) {
		t.Errorf("per thousand %v", got)
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS("Name:\tbench\nVmRSS:\t   12345 kB\nThreads: 9\n")
	if err != nil || got != 12345*1024 {
		t.Errorf("%d %v", got, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseRSS(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestBenchPoliciesPassLint(t *testing.T) {
	data, err := quietPolicy(40 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := policy.Lint("bench.v1.json", data)
	if err != nil || p.Billing.Interval.Duration != 40*time.Second || p.ID() != "bench.v1" {
		t.Fatalf("%+v %v", p.Billing, err)
	}
	for _, bad := range []time.Duration{5 * time.Second, 1500 * time.Millisecond, time.Hour} {
		if _, err := quietPolicy(bad); err == nil {
			t.Errorf("cycle %s accepted", bad)
		}
	}
	m, warnings, err := policy.Lint("benchmonth.v1.json", []byte(monthPolicy))
	if err != nil || m.ID() != "benchmonth.v1" {
		t.Fatalf("month policy: %v %v", m.ID(), err)
	}
	_ = warnings // the e2e policy's own findings, as it ships
}
