package ops

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/policy"
	"github.com/example/dunning/reports"
	"github.com/example/dunning/store"
)

// The reads from PostgreSQL, on a database of the test's own.
func TestStoreReads(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	ctx := context.Background()
	cfg := unreachable
	cfg.DatabaseURL = dbURL
	o := New(Options{Config: cfg})
	defer o.Close()

	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := reg.Get("standard")
	if err != nil {
		t.Fatal(err)
	}
	app := application()
	app.Normalize()
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	acct := account.New(app, pol, "low", now)
	events := acct.Open(now)
	st, err := o.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Record(ctx, activities.CustomerSnapshot(acct, now).Row(), events); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimOutbox(ctx, store.OutboxMessage{MessageKey: "acme:welcome", CustomerID: sql.NullString{String: "acme", Valid: true}, Stage: "welcome",
		Template: "welcome", ToEmail: app.Email, Subject: "Welcome", BodyText: "Hi"}); err != nil {
		t.Fatal(err)
	}

	audit, err := o.Audit(ctx, "acme")
	if err != nil || len(audit) != len(events) || audit[0].Action != events[0].Type {
		t.Errorf("Audit = %+v %v", audit, err)
	}
	if _, err := o.Audit(ctx, "nobody"); !errors.Is(err, ErrNotFound) || err.Error() != `unknown customer "nobody"` {
		t.Errorf("Audit of unknown = %v", err)
	}
	emails, err := o.Emails(ctx, "acme")
	if err != nil || len(emails) != 1 || emails[0].MessageKey != "acme:welcome" {
		t.Errorf("Emails = %+v %v", emails, err)
	}
	if _, err := o.Emails(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Emails of unknown = %v", err)
	}
	if m, err := o.Email(ctx, "", "acme:welcome"); err != nil || m.Subject != "Welcome" {
		t.Errorf("Email = %+v %v", m, err)
	}
	if m, err := o.Email(ctx, "acme", "acme:welcome"); err != nil || m.Subject != "Welcome" {
		t.Errorf("Email of acme = %+v %v", m, err)
	}
	// Another customer's email is not found through this one.
	if _, err := o.Email(ctx, "other", "acme:welcome"); !errors.Is(err, ErrNotFound) || err.Error() != `no email with key "acme:welcome"` {
		t.Errorf("Email of other = %v", err)
	}
	var inv *InvalidError
	if _, err := o.Audit(ctx, "bad id"); !errors.As(err, &inv) {
		t.Errorf("bad ID = %v", err)
	}

	rep, err := o.Aging(ctx, now, reports.AgingOptions{})
	if err != nil || !rep.AsOf.Equal(now) {
		t.Errorf("Aging = %+v %v", rep, err)
	}
	if _, err := o.Aging(ctx, now, reports.AgingOptions{Currency: "XX"}); !errors.As(err, &inv) {
		t.Errorf("Aging with a bad currency = %v", err)
	}
	var csv strings.Builder
	if n, err := o.ExportCollections(ctx, &csv, now); err != nil || n != 0 || !strings.HasPrefix(csv.String(), "customer_id,") {
		t.Errorf("ExportCollections = %d %v %q", n, err, csv.String())
	}
}

func TestStoreUnavailable(t *testing.T) {
	o := New(Options{Config: unreachable})
	if _, err := o.Audit(context.Background(), "acme"); !isUnavailable(err) || !strings.Contains(err.Error(), "cannot reach PostgreSQL") {
		t.Errorf("Audit without a database = %v", err)
	}
}
