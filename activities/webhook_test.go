package activities

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
)

func TestWebhookProvisioner(t *testing.T) {
	var mu sync.Mutex
	var got []ProvisionInput
	var keys []string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in ProvisionInput
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, in)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p := &WebhookProvisioner{URL: srv.URL}
	// The subscriptions an action names reach the receiver.
	in := ProvisionInput{CustomerID: "acme", Action: "suspend_subscriptions", Reason: "non-payment", Key: "acme/42", At: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC),
		Subscriptions: []string{"seats", "storage"}}
	if err := p.Provision(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], in) || keys[0] != "acme/42" {
		t.Fatalf("received %+v with keys %v", got, keys)
	}
	for _, tc := range []struct {
		status    int
		retryable bool
	}{{500, true}, {503, true}, {429, true}, {408, true}, {400, false}, {404, false}, {409, false}} {
		status = tc.status
		err := p.Provision(context.Background(), in)
		var appErr *temporal.ApplicationError
		nonRetryable := errors.As(err, &appErr) && appErr.NonRetryable()
		if err == nil || nonRetryable == tc.retryable {
			t.Errorf("status %d: err %v (non-retryable %v)", tc.status, err, nonRetryable)
		}
	}
	srv.Close()
	if err := p.Provision(context.Background(), in); err == nil || temporal.IsApplicationError(err) {
		t.Errorf("unreachable webhook must be retried: %v", err)
	}
}
