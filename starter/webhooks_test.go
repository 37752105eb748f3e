package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/ops"
)

// Registration refuses bad input with a clear message and exit 2, storing
// nothing; a good one prints the secret once, and listing never shows it.
func TestWebhooksCommands(t *testing.T) {
	dbURL, db := pgtest.New(t)
	t.Setenv("DATABASE_URL", dbURL)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"webhooks", "add", "http://crm.example.com/hook", "--events", "account.suspended"}, exitUsage, "must use https://"},
		{[]string{"webhooks", "add", "http://127.0.0.1:9/hook", "--events", "account.suspended"}, exitUsage, "DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK"},
		{[]string{"webhooks", "add", "https://crm.example.com/hook", "--events", "account.suspend"}, exitUsage, `unknown event type "account.suspend"`},
		{[]string{"webhooks", "add", "https://crm.example.com/hook"}, exitUsage, `"events" not set`},
		{[]string{"webhooks", "add", "https://crm.example.com/hook", "--events", "*", "--actor", "a\x1bb"}, exitUsage, "actor"},
		{[]string{"webhooks", "deliveries", "--status", "lost"}, exitUsage, "must be pending, delivered, failed or cancelled"},
		{[]string{"webhooks", "deliveries", "--endpoint", "we_0123456789abcdef"}, exitRefused, "unknown webhook endpoint"},
		{[]string{"webhooks", "deliveries", "--endpoint", "x'; --"}, exitUsage, "not an endpoint ID"},
		{[]string{"webhooks", "replay", "0"}, exitUsage, "not a delivery ID"},
		{[]string{"webhooks", "replay", "4242"}, exitRefused, "unknown webhook delivery 4242"},
		{[]string{"webhooks", "replay"}, exitUsage, "name one delivery ID"},
		{[]string{"webhooks", "replay", "--failed", "we_0123456789abcdef"}, exitRefused, "unknown webhook endpoint"},
		{[]string{"webhooks", "disable", "we_0123456789abcdef"}, exitRefused, "unknown webhook endpoint"},
		{[]string{"webhooks", "enable", "nope"}, exitUsage, "not an endpoint ID"},
	} {
		_, errOut, code := runDB(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d %q, want %d %q", c.args, code, errOut, c.code, c.want)
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM webhook_endpoints`); err != nil || n != 0 {
		t.Fatalf("%d endpoints after refused registrations (%v)", n, err)
	}

	out, errOut, code := runDB(t, "webhooks", "add", "https://crm.example.com/hook", "--events", "account.suspended,invoice.paid", "--json", "--actor", "kim")
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	var reg ops.RegisteredWebhook
	if err := json.Unmarshal([]byte(out), &reg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reg.Secret, "whsec_") || reg.CreatedBy != "kim" || strings.Join(reg.EventTypes, ",") != "account.suspended,invoice.paid" || !reg.Active {
		t.Fatalf("registered %+v", reg)
	}
	if out, errOut, code := runDB(t, "webhooks", "disable", reg.ID); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %d %s %s", code, out, errOut)
	}
	if out, _, _ := runDB(t, "webhooks", "list"); !strings.Contains(out, "false") {
		t.Fatalf("list after disable: %s", out)
	}
	if _, _, code := runDB(t, "webhooks", "enable", reg.ID); code != 0 {
		t.Fatalf("enable: %d", code)
	}
	for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "list", "--json"}, {"webhooks", "deliveries", "--endpoint", reg.ID}} {
		out, errOut, code := runDB(t, args...)
		if code != 0 || strings.Contains(out, reg.Secret) || strings.Contains(out, "whsec_") {
			t.Fatalf("%q: %d %s %s", args, code, out, errOut)
		}
		if args[1] == "list" && !strings.Contains(out, reg.ID) {
			t.Fatalf("%q does not list %s: %s", args, reg.ID, out)
		}
	}
}
