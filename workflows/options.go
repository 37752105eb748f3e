package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/activities"
)

// Database writes retry until they succeed: a database restart delays the
// record but never loses it.
var recordRetry = &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}

// recordOptions are for histories from before the local-record version.
func recordOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: recordRetry, Summary: summary}
}

// localRecordOptions: the SDK turns the long backoffs of a database outage
// into timers, so the workflow only waits.
func localRecordOptions(summary string) workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: recordRetry, Summary: summary}
}

func provisionOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
		Summary: summary,
	}
}

// Screening retries through credit-provider outages: onboarding waits.
func screenOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
		Summary:             summary,
	}
}

// A verification code is worth a few tries only: the customer can ask for
// another.
func phoneCodeOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
		Summary:             summary,
	}
}

// Emails retry through SendGrid outages and rate limits for a day; refusals
// (400/401/403/413) and interrupted sends are not retried.
func noticeOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrEmailRefused, activities.ErrEmailUnconfirmed, activities.ErrEmailTemplate},
		},
		Summary: summary,
	}
}
