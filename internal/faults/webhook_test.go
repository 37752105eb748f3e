package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func post(t *testing.T, url string, req ProvisionRequest, timeout time.Duration) (int, error) {
	t.Helper()
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.IdempotencyKey != "" {
		r.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func req(customer, action, key string, at time.Time) ProvisionRequest {
	return ProvisionRequest{CustomerID: customer, Action: action, Key: key, IdempotencyKey: key, At: at}
}

func TestProvisioningAppliesOncePerKey(t *testing.T) {
	p := NewProvisioning()
	defer p.Close()
	t0 := time.Now()
	for _, r := range []ProvisionRequest{
		req("a", "activate", "k1", t0),
		req("a", "activate", "k1", t0), // a retry
		req("a", "grant_full_access", "k2", t0.Add(time.Second)),
		req("a", "suspend", "k3", t0.Add(2*time.Second)),
		req("b", "activate", "k4", t0),
	} {
		if code, err := post(t, p.URL(), r, 2*time.Second); err != nil || code != 200 {
			t.Fatalf("%+v: %d %v", r, code, err)
		}
	}
	a, ok := p.Applied("a")
	if !ok || a.Status != "suspended" || a.Access != "full" || !reflect.DeepEqual(a.Actions, []string{"activate", "grant_full_access", "suspend"}) {
		t.Errorf("a: %+v %v", a, ok)
	}
	if b, _ := p.Applied("b"); b.Status != "active" || b.Access != "limited" {
		t.Errorf("b: %+v", b)
	}
	if _, ok := p.Applied("c"); ok {
		t.Error("c was never provisioned")
	}
	if c := p.Counts(); c["applied"] != 4 || c["duplicate"] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestProvisioningRefusesBadRequests(t *testing.T) {
	p := NewProvisioning()
	defer p.Close()
	noKey := req("a", "activate", "k1", time.Now())
	noKey.IdempotencyKey = ""
	for _, r := range []ProvisionRequest{noKey, req("a", "explode", "k2", time.Now()), req("", "activate", "k3", time.Now())} {
		if code, err := post(t, p.URL(), r, 2*time.Second); err != nil || code != 400 {
			t.Errorf("%+v: %d %v", r, code, err)
		}
	}
	if _, ok := p.Applied("a"); ok {
		t.Error("a bad request was applied")
	}
}

func TestProvisioningFaultsByCustomer(t *testing.T) {
	p := NewProvisioning()
	defer p.Close()
	t0 := time.Now()
	p.SetAnswer(Answer{Status: 503})
	p.SetCustomerAnswer("refused", Answer{Status: 422})
	if code, _ := post(t, p.URL(), req("x", "activate", "x1", t0), 2*time.Second); code != 503 {
		t.Errorf("global 503: %d", code)
	}
	if code, _ := post(t, p.URL(), req("refused", "activate", "r1", t0), 2*time.Second); code != 422 {
		t.Errorf("override 422: %d", code)
	}
	p.SetAnswer(OK)
	if code, _ := post(t, p.URL(), req("x", "activate", "x1", t0), 2*time.Second); code != 200 {
		t.Errorf("after the fault: %d", code)
	}
	if code, _ := post(t, p.URL(), req("refused", "activate", "r1", t0), 2*time.Second); code != 422 {
		t.Errorf("override stays: %d", code)
	}
	if s, _ := p.Applied("x"); s.Status != "active" {
		t.Errorf("x: %+v", s)
	}
	if _, ok := p.Applied("refused"); ok {
		t.Error("refused customer was applied")
	}
	if got := p.Refused(); !reflect.DeepEqual(got, []string{"refused"}) {
		t.Errorf("refused: %v", got)
	}
	p.ClearCustomerAnswers()
	if code, _ := post(t, p.URL(), req("refused", "activate", "r1", t0), 2*time.Second); code != 200 {
		t.Errorf("after clearing: %d", code)
	}
}

func TestProvisioningHangsUntilCallerGivesUpOrAnswerChanges(t *testing.T) {
	p := NewProvisioning()
	defer p.Close()
	p.SetAnswer(Answer{Hang: true})
	start := time.Now()
	if _, err := post(t, p.URL(), req("h", "suspend", "h1", start), 300*time.Millisecond); err == nil {
		t.Fatal("a hung request was answered")
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Error("answered too soon")
	}
	if _, ok := p.Applied("h"); ok {
		t.Error("a request the caller gave up on was applied")
	}
	// A request held when the fault is lifted is served normally.
	done := make(chan int, 1)
	go func() {
		code, _ := post(t, p.URL(), req("h", "suspend", "h2", start), 5*time.Second)
		done <- code
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case code := <-done:
		t.Fatalf("answered %d while hanging", code)
	default:
	}
	p.SetAnswer(OK)
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("released request: %d", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the held request was not released")
	}
	if s, _ := p.Applied("h"); s.Status != "suspended" {
		t.Errorf("h: %+v", s)
	}
	if c := p.Counts(); c["hang"] != 1 || c["applied"] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestProvisioningCountsOutOfOrderArrivals(t *testing.T) {
	p := NewProvisioning()
	defer p.Close()
	t0 := time.Now()
	_, _ = post(t, p.URL(), req("o", "activate", "o1", t0), 2*time.Second)
	_, _ = post(t, p.URL(), req("o", "reinstate", "o3", t0.Add(2*time.Second)), 2*time.Second)
	_, _ = post(t, p.URL(), req("o", "suspend", "o2", t0.Add(time.Second)), 2*time.Second) // late
	s, _ := p.Applied("o")
	if s.OutOfOrder != 1 || s.Status != "suspended" {
		t.Errorf("%+v", s)
	}
}
