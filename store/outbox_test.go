package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/store"
)

// outboxStore is a counted store with customer "acme".
func outboxStore(t testing.TB) (*store.Store, *counting) {
	t.Helper()
	dbURL, _ := pgtest.New(t)
	st, cc := openCounted(t, dbURL, config.DB{MaxConns: 4})
	now := time.Now().UTC()
	if _, err := st.Record(context.Background(), store.Customer{CustomerID: "acme", Name: "Acme", Email: "billing@acme.test", Phone: "+14155550100",
		Country: "US", Currency: "USD", Locale: "en", Policy: "standard.v3", MonthlyFeeMinor: 10000, InstrumentType: "bank_transfer",
		SignupIP: "203.0.113.7", RiskTier: "low", Status: "active", Access: "limited", DunningStage: "none", CreatedAt: now, UpdatedAt: now, EventSeq: 1}, nil); err != nil {
		t.Fatal(err)
	}
	return st, cc
}

func message(key string) store.OutboxMessage {
	return store.OutboxMessage{MessageKey: key, CustomerID: sql.NullString{String: "acme", Valid: true}, InvoiceID: sql.NullString{String: "inv-1", Valid: true},
		Stage: "overdue_1", Template: "overdue_1", ToEmail: "billing@acme.test", Subject: "Your invoice is overdue",
		BodyText: strings.Repeat("Please pay. ", 200), BodyHTML: strings.Repeat("<p>Please pay.</p>", 200)}
}

// A new email costs one statement to claim it (written and taken for
// sending, committed before the send) and one to record the outcome: two
// statements, each its own transaction.
func TestEmailCostsTwoStatements(t *testing.T) {
	st, cc := outboxStore(t)
	ctx := context.Background()
	before := cc.stats()
	cur, err := st.ClaimOutbox(ctx, message("acme:overdue_1:inv-1"))
	claimed := cur.Claimed
	if err != nil || !claimed || cur.Status != store.OutboxSending || cur.Attempts != 1 {
		t.Fatalf("claim = %+v %v %v", cur, claimed, err)
	}
	if err := st.FinishOutbox(ctx, "acme:overdue_1:inv-1", store.OutboxSent, "sg-1", ""); err != nil {
		t.Fatal(err)
	}
	if d := cc.stats().minus(before); d.statements != 2 || d.transactions != 2 {
		t.Errorf("a new email took %d statements in %d transactions, want 2 in 2", d.statements, d.transactions)
	}
	// A retry of a sent email is one statement that claims nothing.
	before = cc.stats()
	cur, err = st.ClaimOutbox(ctx, message("acme:overdue_1:inv-1"))
	claimed = cur.Claimed
	if err != nil || claimed || cur.Status != store.OutboxSent || cur.ProviderMessageID.String != "sg-1" || cur.Attempts != 1 {
		t.Fatalf("claim of a sent email = %+v %v %v", cur, claimed, err)
	}
	if d := cc.stats().minus(before); d.statements > 2 {
		t.Errorf("a retried claim took %d statements", d.statements)
	}
}

// Every state of a row gives the claim the outcome the activity relies on,
// and the stored message is the one first written.
func TestClaimOutboxStates(t *testing.T) {
	st, _ := outboxStore(t)
	ctx := context.Background()
	claim := func(key string) (store.OutboxClaim, bool) {
		t.Helper()
		m := message(key)
		m.Subject = "changed on retry" // a retry never rewrites what was written
		cur, err := st.ClaimOutbox(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return cur, cur.Claimed
	}
	for _, c := range []struct {
		key, finish, lastError string
		wantClaimed            bool
		wantStatus             string
		wantAttempts           int
	}{
		{"k-sending", "", "", false, store.OutboxSending, 1},
		{"k-pending", store.OutboxPending, "429", true, store.OutboxSending, 2},
		{"k-sent", store.OutboxSent, "", false, store.OutboxSent, 1},
		{"k-logged", store.OutboxLogged, "", false, store.OutboxLogged, 1},
		{"k-failed", store.OutboxFailed, "400 bad address", false, store.OutboxFailed, 1},
		{"k-unconfirmed", store.OutboxUnconfirmed, "cut off", false, store.OutboxUnconfirmed, 1},
	} {
		if cur, err := st.ClaimOutbox(ctx, message(c.key)); err != nil || !cur.Claimed {
			t.Fatalf("%s: first claim %+v %v", c.key, cur, err)
		}
		if c.finish != "" {
			if err := st.FinishOutbox(ctx, c.key, c.finish, "", c.lastError); err != nil {
				t.Fatal(err)
			}
		}
		cur, ok := claim(c.key)
		if ok != c.wantClaimed || cur.Status != c.wantStatus || cur.Attempts != c.wantAttempts {
			t.Errorf("%s: claim = status %s attempts %d claimed %v, want %s %d %v", c.key, cur.Status, cur.Attempts, ok, c.wantStatus, c.wantAttempts, c.wantClaimed)
		}
		if c.lastError != "" && c.finish == store.OutboxFailed && cur.LastError.String != c.lastError {
			t.Errorf("%s: last error %q", c.key, cur.LastError.String)
		}
		row, err := st.OutboxMessageByKey(ctx, c.key)
		if err != nil || row.Subject != message(c.key).Subject || row.BodyHTML != message(c.key).BodyHTML {
			t.Errorf("%s: stored message changed: %q %v", c.key, row.Subject, err)
		}
	}
}

// Concurrent attempts at one new key: exactly one claims it.
func TestClaimOutboxConcurrentAttempts(t *testing.T) {
	st, _ := outboxStore(t)
	for round := range 5 {
		key := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		claims := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cur, err := st.ClaimOutbox(context.Background(), message(key))
				ok := cur.Claimed
				if err != nil {
					t.Error(err)
					return
				}
				if !ok && cur.Status != store.OutboxSending {
					t.Errorf("unclaimed attempt saw %q", cur.Status)
				}
				if ok {
					mu.Lock()
					claims++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if claims != 1 {
			t.Errorf("%s: %d attempts claimed it, want 1", key, claims)
		}
	}
}

// BenchmarkEmailPath is the store's part of one email: claim, then record
// it sent. It reports statements and transactions per email.
func BenchmarkEmailPath(b *testing.B) {
	st, cc := outboxStore(b)
	ctx := context.Background()
	before := cc.stats()
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("bench-%d", i)
		if cur, err := st.ClaimOutbox(ctx, message(key)); err != nil || !cur.Claimed {
			b.Fatal(cur, err)
		}
		if err := st.FinishOutbox(ctx, key, store.OutboxSent, "sg", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	d := cc.stats().minus(before)
	b.ReportMetric(float64(d.statements)/float64(b.N), "stmts/email")
	b.ReportMetric(float64(d.transactions)/float64(b.N), "tx/email")
	b.ReportMetric(float64(d.conns)/float64(b.N), "conns/email")
}
