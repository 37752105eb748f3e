package main

import (
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

func (h *hist) upsert(at time.Duration, names ...string) {
	fields := map[string]*commonpb.Payload{}
	for _, n := range names {
		fields[n] = &commonpb.Payload{}
	}
	h.add(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields}}}
	})
}

func (h *hist) markerOfTask(at time.Duration, task int64) {
	h.add(enumspb.EVENT_TYPE_MARKER_RECORDED, at, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
			MarkerName: localActivityMarker, WorkflowTaskCompletedEventId: task}}
	})
}

// Billable actions follow Temporal Cloud's rules: markers of one workflow
// task are one action, a TemporalChangeVersion-only upsert is free, each
// retry of an activity is one more.
func TestActionsFollowCloudRules(t *testing.T) {
	h := &hist{}
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 0, nil) // 1
	h.task(0)
	h.markerOfTask(0, 4)                         // version
	h.upsert(0, changeVersionAttr)               // free
	h.markerOfTask(0, 4)                         // side effect, same task: with the one above, 1
	h.upsert(0, "AccountStatus", "DunningStage") // 1
	h.activity(0, "Screen", "{}")                // 1
	h.add(enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, time.Second, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{Attempt: 3}}
	}) // 2 retries
	h.add(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, time.Second, nil)
	h.task(time.Second)
	h.markerOfTask(time.Second, 13)                                                  // another task's record: 1
	h.timer(time.Second, time.Hour)                                                  // 1
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, 2*time.Second, nil) // 1
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, 2*time.Second, nil)
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, 3*time.Second, nil) // 1
	h.add(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, 4*time.Second, nil)
	if got, want := Actions(h.events), 1+1+1+1+2+1+1+1+1; got != want {
		t.Errorf("actions = %d, want %d", got, want)
	}
}

// A reminder cancelled by a payment is a wait the product needed.
func TestCancelledTimerIsAWait(t *testing.T) {
	h := &hist{}
	h.timer(0, time.Hour)
	h.add(enumspb.EVENT_TYPE_TIMER_CANCELED, time.Second, nil)
	if _, b := Classify(h.events); b.Waits != 1 || b.WakeUps != 0 {
		t.Errorf("breakdown %+v, want one wait and no wake-up", b)
	}
}
