package ops

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/example/dunning/internal/pgtest"
)

// Registration follows the loopback setting, makes a fresh secret each
// time and never shows it again; bad requests store nothing and unknown
// IDs are ErrNotFound.
func TestWebhookOps(t *testing.T) {
	dbURL, db := pgtest.New(t)
	ctx := context.Background()
	cfg := unreachable
	cfg.DatabaseURL = dbURL
	o := New(Options{Config: cfg})
	defer o.Close()
	req := NewWebhook{URL: "http://127.0.0.1:9000/hook", EventTypes: []string{"*"}, Actor: "kim"}
	var inv *InvalidError
	if _, err := o.AddWebhook(ctx, req); !errors.As(err, &inv) || !strings.Contains(err.Error(), "DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK") {
		t.Fatalf("loopback http without the setting: %v", err)
	}
	cfg.WebhookAllowHTTPLoopback = true
	dev := New(Options{Config: cfg})
	defer dev.Close()
	a, err := dev.AddWebhook(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dev.AddWebhook(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Secret == b.Secret || a.ID == b.ID || len(a.EventTypes) != 9 {
		t.Fatalf("two registrations %+v %+v", a, b)
	}
	eps, err := o.Webhooks(ctx)
	if err != nil || len(eps) != 2 {
		t.Fatalf("list %+v %v", eps, err)
	}
	if js, _ := json.Marshal(eps); strings.Contains(string(js), a.Secret) || strings.Contains(string(js), "whsec_") {
		t.Fatalf("the list shows a secret: %s", js)
	}
	var n int
	if _, err := dev.AddWebhook(ctx, NewWebhook{URL: "https://x.example/h", EventTypes: []string{"invoice.paid", "nope"}, Actor: "kim"}); !errors.As(err, &inv) {
		t.Fatalf("unknown type: %v", err)
	}
	if err := db.Get(&n, `SELECT count(*) FROM webhook_endpoints`); err != nil || n != 2 {
		t.Fatalf("%d endpoints after a refusal", n)
	}
	if _, err := o.ReplayDelivery(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown delivery: %v", err)
	}
	if _, err := o.WebhookDeliveries(ctx, DeliveryFilter{EndpointID: "we_0000000000000000"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown endpoint: %v", err)
	}
	if ds, err := o.WebhookDeliveries(ctx, DeliveryFilter{EndpointID: a.ID, Status: "failed"}); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	if e, err := o.SetWebhookActive(ctx, a.ID, false); err != nil || e.Active {
		t.Fatalf("disable %+v %v", e, err)
	}
}
