package metrics

import (
	"io"
	"log/slog"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// TaskLatencyBuckets are the histogram buckets, in seconds, of the SDK's
// timers (task schedule-to-start and execution latencies, request
// latencies): from a millisecond to a minute.
var TaskLatencyBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// sanitizeOptions are the SDK's Prometheus rules for metric names and
// label names, but label values keep every printable character: a task
// queue "metrics-e2e" stays itself instead of becoming "metrics_e2e", so
// dashboards can filter on the names the configuration uses.
var sanitizeOptions = tally.SanitizeOptions{
	NameCharacters:       sdktally.PrometheusSanitizeOptions.NameCharacters,
	KeyCharacters:        sdktally.PrometheusSanitizeOptions.KeyCharacters,
	ValueCharacters:      tally.ValidCharacters{Ranges: []tally.SanitizeRange{{' ', unicode.MaxRune}}},
	ReplacementCharacter: tally.DefaultReplacementCharacter,
}

// flushInterval is how often tally hands what the SDK recorded to the
// Prometheus reporter.
const flushInterval = time.Second

// NewTemporalHandler is the Temporal SDK's metrics handler (for
// client.Options.MetricsHandler), writing into reg with Prometheus names:
// counters end in _total, timers are histograms in seconds
// (<name>_seconds_bucket/_sum/_count), as in Temporal's own samples. Close
// the returned closer after the client, to flush.
func NewTemporalHandler(reg prometheus.Registerer, logger *slog.Logger) (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: TaskLatencyBuckets,
		// The default panics; a metric the SDK tags inconsistently must not
		// take the worker down.
		OnRegisterError: func(err error) { logger.Warn("temporal metric not exported", "error", err) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitizeOptions,
		// tally's counts of its own series are no operator's business.
		OmitCardinalityMetrics: true,
	}, flushInterval)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
