package mail

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

// Every template a policy or the account can ask for must exist.
func TestEveryNoticeHasATemplate(t *testing.T) {
	reg, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"prepayment_request", "prepayment_reminder", "application_cancelled", "invoice_issued",
		"reinstated", "suspended_manual", "terminated"}
	for _, name := range reg.Names() {
		p, _ := reg.Get(name)
		for _, s := range p.Ladder {
			needed = append(needed, s.Template)
		}
	}
	for _, locale := range []string{"en"} {
		have := Templates(locale)
		for _, n := range needed {
			if !slices.Contains(have, n) {
				t.Errorf("locale %s has no template %q", locale, n)
			}
		}
	}
}

func TestRender(t *testing.T) {
	n := account.Notice{
		Key: "acme:INV-acme-0002:final_notice", Template: "final_notice", Stage: "final_notice",
		InvoiceID: "INV-acme-0002", AmountMinor: 123456, Currency: "USD", DaysOverdue: 14,
		DueAt:      time.Date(2026, 2, 15, 10, 0, 0, 0, time.UTC),
		DeadlineAt: time.Date(2026, 3, 8, 10, 0, 0, 0, time.UTC), Reference: "INV-acme-0002",
	}
	m, err := Render(n, Recipient{CustomerID: "acme", Name: "Acme <Ltd>", Email: "billing@acme.test", Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "FINAL NOTICE: service will be suspended on March 8, 2026" {
		t.Errorf("subject = %q", m.Subject)
	}
	if !strings.Contains(m.Text, "$1,234.56") || !strings.Contains(m.Text, "Dear Acme <Ltd>,") {
		t.Errorf("text = %s", m.Text)
	}
	if !strings.Contains(m.HTML, "Acme &lt;Ltd&gt;") || strings.Contains(m.HTML, "Acme <Ltd>") {
		t.Errorf("html not escaped: %s", m.HTML)
	}
	want := map[string]string{"customer_id": "acme", "invoice_id": "INV-acme-0002", "stage": "final_notice", "dunning_key": n.Key}
	for k, v := range want {
		if m.CustomArgs[k] != v {
			t.Errorf("custom_args[%s] = %q, want %q", k, m.CustomArgs[k], v)
		}
	}
	if !slices.Contains(m.Categories, "final_notice") {
		t.Errorf("categories = %v", m.Categories)
	}
	if _, err := Render(account.Notice{Template: "nope"}, Recipient{Locale: "en"}); err == nil {
		t.Error("unknown template rendered")
	}
}
