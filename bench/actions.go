package main

import (
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// changeVersionAttr is the search attribute GetVersion upserts; Temporal
// Cloud does not bill its upserts.
const changeVersionAttr = "TemporalChangeVersion"

// Actions estimates the Temporal Cloud billable actions of a history
// stretch, by the rules of Temporal's "Temporal Cloud Actions" page: a
// workflow start (a continue-as-new counts as its new run's start), each
// search-attribute upsert except one of TemporalChangeVersion alone, each
// activity scheduled plus each retry, one per workflow task that recorded
// markers (local activities, side effects, versions), each timer started,
// each signal and each update accepted. Queries (the GetStatus reads of
// staff and the console) are billed too but leave no event: the capacity
// model adds them separately.
func Actions(events []*historypb.HistoryEvent) int {
	n := 0
	markerTasks := map[int64]bool{}
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
			enumspb.EVENT_TYPE_TIMER_STARTED,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			n++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if a := ev.GetActivityTaskStartedEventAttributes().GetAttempt(); a > 1 {
				n += int(a) - 1
			}
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			fields := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
			if _, only := fields[changeVersionAttr]; !only || len(fields) > 1 {
				n++
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			markerTasks[ev.GetMarkerRecordedEventAttributes().GetWorkflowTaskCompletedEventId()] = true
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			n += 2
		}
	}
	return n + len(markerTasks)
}
