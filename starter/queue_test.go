package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/ops"
)

func TestQueueCommand(t *testing.T) {
	dbURL, db := pgtest.New(t)
	t.Setenv("DATABASE_URL", dbURL)
	deadline := time.Now().Add(5 * time.Hour).UTC().Truncate(time.Second)
	for _, q := range []string{
		`INSERT INTO customers (customer_id, name, email, phone, country, currency, locale, policy,
			monthly_fee_minor, instrument_type, signup_ip, status, access, created_at, updated_at)
		VALUES ('acme', 'Acme', 'billing@acme.test', '+14155550100', 'US', 'USD', 'en', 'standard.v1', 1000, 'bank_transfer',
			'192.0.2.1', 'manual_review', 'none', now(), now())`,
		`INSERT INTO reviews (customer_id, review_id, kind, reason, opened_at, deadline)
		VALUES ('acme', 'review-1', 'onboarding', 'score 71', now(), $1)`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, deadline)
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := runDB(t, "queue")
	if code != 0 || !strings.Contains(out, "review") || !strings.Contains(out, "acme") || !strings.Contains(out, "score 71") {
		t.Fatalf("queue: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runDB(t, "queue", "--json")
	var items []ops.WorkItem
	if err := json.Unmarshal([]byte(out), &items); code != 0 || err != nil || len(items) != 1 ||
		items[0].Kind != ops.WorkReview || !items[0].Due.Equal(deadline) {
		t.Errorf("queue --json: exit %d %v %+v", code, err, items)
	}
	for _, bad := range []string{"soon", "0d", "91d"} {
		if _, errOut, code := runDB(t, "queue", "--horizon", bad); code != exitUsage || !strings.Contains(errOut, "horizon") {
			t.Errorf("--horizon %s: exit %d %q", bad, code, errOut)
		}
	}
}
