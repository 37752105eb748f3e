package sendgridfake

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

const testKey = "SG.test"

func send(t *testing.T, s *Server, key string, timeout time.Duration) (int, http.Header, error) {
	t.Helper()
	body := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},
		"subject":"hi","content":[{"type":"text/plain","value":"hello"}],"custom_args":{"dunning_key":"` + key + `"}}`
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v3/mail/send", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

func TestAccepts(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	code, h, err := send(t, s, "k1", 2*time.Second)
	if err != nil || code != 202 || h.Get("X-Message-Id") == "" {
		t.Fatalf("%d %v %v", code, h, err)
	}
	if n := len(s.ByCustomArg("dunning_key", "k1")); n != 1 {
		t.Errorf("%d messages", n)
	}
}

func TestSetFaultUntilCleared(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.SetFault(Fault{Status: 429, ResetAfter: 3 * time.Second})
	for range 3 {
		code, h, err := send(t, s, "k", 2*time.Second)
		if err != nil || code != 429 || h.Get("X-RateLimit-Remaining") != "0" {
			t.Fatalf("rate limited: %d %v %v", code, h, err)
		}
	}
	s.SetFault(Fault{Status: 503})
	if code, _, _ := send(t, s, "k", 2*time.Second); code != 503 {
		t.Errorf("503: %d", code)
	}
	s.ClearFault()
	if code, _, _ := send(t, s, "k", 2*time.Second); code != 202 {
		t.Errorf("after clearing: %d", code)
	}
	if got := s.FaultsServed(); got["429"] != 3 || got["503"] != 1 {
		t.Errorf("faults served %v", got)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages stored", n)
	}
}

func TestQueuedFaultsComeBeforeTheStickyOne(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.Inject(Fault{Status: 500})
	s.SetFault(Fault{Status: 429})
	if code, _, _ := send(t, s, "k", 2*time.Second); code != 500 {
		t.Errorf("first: %d", code)
	}
	if code, _, _ := send(t, s, "k", 2*time.Second); code != 429 {
		t.Errorf("second: %d", code)
	}
}

func TestHangStoresNothingUntilReleased(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.SetFault(Fault{Hang: true})
	if _, _, err := send(t, s, "gave-up", 300*time.Millisecond); err == nil {
		t.Fatal("a hanging request was answered")
	}
	done := make(chan int, 1)
	go func() {
		code, _, _ := send(t, s, "released", 5*time.Second)
		done <- code
	}()
	time.Sleep(200 * time.Millisecond)
	s.ClearFault()
	select {
	case code := <-done:
		if code != 202 {
			t.Errorf("released: %d", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("not released")
	}
	if len(s.ByCustomArg("dunning_key", "gave-up")) != 0 || len(s.ByCustomArg("dunning_key", "released")) != 1 {
		t.Errorf("messages: %+v", s.Messages())
	}
	// The handler counts the abandoned request once its context ends.
	deadline := time.Now().Add(2 * time.Second)
	for s.FaultsServed()["hang"] != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.FaultsServed(); got["hang"] != 1 {
		t.Errorf("faults served %v", got)
	}
}
