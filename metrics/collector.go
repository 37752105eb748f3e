package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/dunning/money"
)

// DefaultTimeout bounds one read of the figures: a scrape answers within
// it whatever the database does.
const DefaultTimeout = 5 * time.Second

// Source reads the business figures (PostgreSQL in production).
type Source interface {
	Read(ctx context.Context) (Figures, error)
}

// Metric names, shared by the collector, its tests and the dashboard.
const (
	NameScrapeSuccess  = "dunning_metrics_scrape_success"
	NameScrapeDuration = "dunning_metrics_scrape_duration_seconds"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descScrapeSuccess  = desc(NameScrapeSuccess, "1 when the business figures were read from PostgreSQL for this scrape, 0 when the read failed or timed out (then no dunning_* figure is exported).")
	descScrapeDuration = desc(NameScrapeDuration, "How long reading the business figures took (up to the timeout).")

	descCustomers = desc("dunning_customers", "Customers by account status and dunning stage.", "status", "stage")

	descReceivablesAmount   = desc("dunning_receivables_open_amount", "Unpaid amount of open subscription invoices, in major units of the currency, by aging bucket (current is not yet a day past due).", "currency", "bucket")
	descReceivablesInvoices = desc("dunning_receivables_open_invoices", "Open subscription invoices with an unpaid amount, by currency and aging bucket.", "currency", "bucket")

	descMessages     = desc("dunning_outbox_messages", "Outbox messages by channel, stage and outbox status (pending, sending, sent, logged, failed, unconfirmed).", "channel", "stage", "status")
	descDeliveries   = desc("dunning_email_deliveries", "Emails by stage and the latest delivery status SendGrid's event webhook reported (delivered, bounce, dropped, ...).", "stage", "status")
	descEmailEvents  = desc("dunning_email_events_total", "SendGrid delivery events recorded, by stage of the email and event.", "stage", "event")
	descProvisioning = desc("dunning_provisioning_events_total", "Provisioning rounds that failed, escalations to staff, and recoveries, from the audit log.", "event")

	descPayments      = desc("dunning_payments_total", "Payments recorded, by method and currency.", "method", "currency")
	descPaymentAmount = desc("dunning_payments_amount_total", "Amount of the payments recorded, in major units of the currency, by method and currency.", "method", "currency")

	descReviewsOpen    = desc("dunning_reviews_open", "Reviews waiting for a staff decision, by kind (onboarding, misuse).", "kind")
	descReviewsOverdue = desc("dunning_reviews_overdue", "Open reviews past their deadline, by kind.", "kind")

	descMonitoringHits = desc("dunning_monitoring_hits_total", "Activity-monitoring rule hits, by rule and severity.", "rule", "severity")

	descRecoveryAtRisk    = desc("dunning_recovery_at_risk_amount", "What invoices due in the last 30 days still owed when they went at risk (past their due day or their first charge failed), in major units.", "currency")
	descRecoveryRecovered = desc("dunning_recovery_recovered_amount", "What at-risk invoices due in the last 30 days were paid afterwards, in major units, by source (retry, card_update, reminder, staff, other_charge).", "currency", "source")
)

// Collector exports the business figures, read from its Source at scrape
// time. At most one read runs at a time: scrapes that arrive while one is
// running wait for it, each at most Timeout, so a hung database neither
// hangs the scrape nor piles up connections.
type Collector struct {
	source  Source
	timeout time.Duration
	logger  *slog.Logger

	mu      sync.Mutex
	running *flight
}

// flight is one read of the figures.
type flight struct {
	done chan struct{} // closed when the read returned
	f    Figures
	err  error
}

// NewCollector reads from source, each read bounded by timeout
// (DefaultTimeout when 0).
func NewCollector(source Source, timeout time.Duration, logger *slog.Logger) *Collector {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Collector{source: source, timeout: timeout, logger: logger}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descScrapeSuccess, descScrapeDuration, descCustomers,
		descReceivablesAmount, descReceivablesInvoices, descMessages, descDeliveries, descEmailEvents,
		descProvisioning, descPayments, descPaymentAmount, descReviewsOpen, descReviewsOverdue,
		descMonitoringHits, descRecoveryAtRisk, descRecoveryRecovered} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	f, err := c.read()
	ch <- prometheus.MustNewConstMetric(descScrapeDuration, prometheus.GaugeValue, time.Since(start).Seconds())
	if err != nil {
		c.logger.Warn("business metrics not read", "error", err)
		ch <- prometheus.MustNewConstMetric(descScrapeSuccess, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeSuccess, prometheus.GaugeValue, 1)
	export(ch, f)
}

// read returns the figures of the running read, starting one when none
// runs, and gives up waiting after the timeout.
func (c *Collector) read() (Figures, error) {
	c.mu.Lock()
	fl := c.running
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		c.running = fl
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			fl.f, fl.err = c.source.Read(ctx)
			cancel()
			c.mu.Lock()
			c.running = nil
			c.mu.Unlock()
			close(fl.done)
		}()
	}
	c.mu.Unlock()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case <-fl.done:
		return fl.f, fl.err
	case <-t.C:
		return Figures{}, fmt.Errorf("reading the figures took longer than %s", c.timeout)
	}
}

// export turns the figures into metrics.
func export(ch chan<- prometheus.Metric, f Figures) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, r := range f.Customers {
		gauge(descCustomers, float64(r.Count), r.Status, r.Stage)
	}
	for _, r := range f.Receivables {
		gauge(descReceivablesAmount, Major(r.Minor, r.Currency), r.Currency, r.Bucket)
		gauge(descReceivablesInvoices, float64(r.Invoices), r.Currency, r.Bucket)
	}
	for _, r := range f.Messages {
		gauge(descMessages, float64(r.Count), r.Channel, r.Stage, r.Status)
	}
	for _, r := range f.Deliveries {
		gauge(descDeliveries, float64(r.Count), r.Stage, r.Status)
	}
	for _, r := range f.EmailEvents {
		counter(descEmailEvents, float64(r.Count), r.Stage, r.Event)
	}
	for _, r := range f.Provisioning {
		counter(descProvisioning, float64(r.Count), r.Event)
	}
	for _, r := range f.Payments {
		counter(descPayments, float64(r.Count), r.Method, r.Currency)
		counter(descPaymentAmount, Major(r.Minor, r.Currency), r.Method, r.Currency)
	}
	for _, r := range f.Reviews {
		gauge(descReviewsOpen, float64(r.Open), r.Kind)
		gauge(descReviewsOverdue, float64(r.Overdue), r.Kind)
	}
	for _, r := range f.MonitoringHits {
		counter(descMonitoringHits, float64(r.Count), r.Rule, r.Severity)
	}
	for _, r := range f.Recovery {
		gauge(descRecoveryAtRisk, Major(r.AtRiskMinor, r.Currency), r.Currency)
		for source, minor := range r.RecoveredMinor {
			gauge(descRecoveryRecovered, Major(minor, r.Currency), r.Currency, source)
		}
	}
}

// Major converts minor units to the currency's major units (cents to
// dollars; won stay won). A currency the money package does not know is
// taken to have two decimals, ISO 4217's most common exponent.
func Major(minor int64, currency string) float64 {
	exp := 2
	if c, err := money.LookupCurrency(currency); err == nil {
		exp = c.Exponent
	}
	return float64(minor) / math.Pow10(exp)
}
