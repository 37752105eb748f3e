package faults

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/example/dunning/webhooks"
)

func deliver(t *testing.T, r *Receiver, secret, id string, timeout time.Duration) (int, error) {
	t.Helper()
	body := []byte(`{"id":"` + id + `","type":"invoice.paid","customer_id":"acme"}`)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.URL(), bytes.NewReader(body))
	req.Header.Set(webhooks.EventIDHeader, id)
	req.Header.Set(webhooks.SignatureHeader, webhooks.Sign(secret, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// The receiver refuses a bad signature, answers its script in order, then
// the current answer; a hang lasts until the caller gives up; Accepted
// keeps each event once.
func TestReceiver(t *testing.T) {
	r := NewReceiver()
	defer r.Close()
	r.SetSecret("whsec_right")
	if code, _ := deliver(t, r, "whsec_wrong", "evt_1", time.Second); code != http.StatusBadRequest {
		t.Fatalf("forged: %d", code)
	}
	r.Script(Answer{Status: http.StatusServiceUnavailable}, Answer{Hang: true}, Answer{Late: 50 * time.Millisecond})
	if code, _ := deliver(t, r, "whsec_right", "evt_1", time.Second); code != http.StatusServiceUnavailable {
		t.Fatalf("scripted 503: %d", code)
	}
	if _, err := deliver(t, r, "whsec_right", "evt_1", 100*time.Millisecond); err == nil {
		t.Fatal("scripted hang answered")
	}
	for _, id := range []string{"evt_1", "evt_1", "evt_2"} {
		if code, err := deliver(t, r, "whsec_right", id, time.Second); code != http.StatusOK {
			t.Fatalf("%s: %d %v", id, code, err)
		}
	}
	got := r.Received()
	answers := []string{}
	for _, g := range got {
		answers = append(answers, g.Answer)
	}
	want := []string{"bad signature", "Service Unavailable", "hang", "late ok", "ok", "ok"}
	if len(answers) != len(want) {
		t.Fatalf("answers %v, want %v", answers, want)
	}
	for i := range want {
		if answers[i] != want[i] {
			t.Fatalf("answers %v, want %v", answers, want)
		}
	}
	if acc := r.Accepted(); len(acc) != 2 || acc[0].ID != "evt_1" || acc[1].ID != "evt_2" || r.Arrivals() != 6 {
		t.Fatalf("accepted %+v, %d arrivals", acc, r.Arrivals())
	}
}
