package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// filtered passes on only the metrics of one name of its collector.
type filtered struct {
	c    prometheus.Collector
	name string
}

func (f *filtered) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }

func (f *filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

// hangingSource blocks every read until released, counting reads.
type hangingSource struct {
	reads   atomic.Int32
	release chan struct{}
}

func (s *hangingSource) Read(ctx context.Context) (Figures, error) {
	s.reads.Add(1)
	<-s.release // ignores ctx, as a driver stuck in a read does
	return Figures{Customers: []CustomerCount{{Status: "active", Stage: "none", Count: 1}}}, nil
}

// Scrapes racing while the source hangs share one read, each answers
// within the timeout, and a read that ends late is not lost for the next.
func TestHangingSourceDoesNotPileUp(t *testing.T) {
	src := &hangingSource{release: make(chan struct{})}
	const timeout = 200 * time.Millisecond
	c := NewCollector(src, timeout, quiet())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			start := time.Now()
			if got := testutil.ToFloat64(&filtered{c: c, name: NameScrapeSuccess}); got != 0 {
				t.Errorf("success = %v while the source hangs", got)
			}
			if took := time.Since(start); took > timeout+500*time.Millisecond {
				t.Errorf("a scrape took %s", took)
			}
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n != 1 {
		t.Errorf("%d reads started for racing scrapes, want 1", n)
	}
	close(src.release)
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(&filtered{c: c, name: NameScrapeSuccess}) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no success after the source recovered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(&filtered{c: c, name: "dunning_customers"}); got != 1 {
		t.Errorf("dunning_customers = %v", got)
	}
}

type failingSource struct{}

func (failingSource) Read(context.Context) (Figures, error) {
	return Figures{}, errors.New("connection refused")
}

// The endpoint still answers 200 with the SDK's and the process's metrics
// when the figures cannot be read; the success gauge says so.
func TestEndpointAnswersWhenTheDatabaseFails(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(NewCollector(failingSource{}, time.Second, quiet()))
	srv := httptest.NewServer(Handler(reg, quiet()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{NameScrapeSuccess + " 0", NameScrapeDuration, "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
	if resp, err := http.Post(srv.URL+Path, "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %v %v", Path, resp.Status, err)
	}
}

func TestMajorUnits(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     float64
	}{{1234, "USD", 12.34}, {50000, "KRW", 50000}, {1, "JPY", 1}, {1500, "XXX-unknown", 15}, {1_000_000_000_000_000, "USD", 1e13}} {
		if got := Major(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Major(%d, %s) = %v, want %v", tc.minor, tc.currency, got, tc.want)
		}
	}
}
