package mail

import (
	"flag"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// Fixed dates: an invoice due November 15 under the standard policy, which
// suspends 21 days and terminates 60 days after the due date.
var (
	goldenDue       = time.Date(2026, 11, 15, 10, 0, 0, 0, time.UTC)
	goldenSuspend   = goldenDue.AddDate(0, 0, 21)
	goldenTerminate = goldenDue.AddDate(0, 0, 60)
)

// goldenNotice is the fixed notice each template is rendered from. Amounts
// are in USD for English and KRW for Korean so that both formats are seen.
func goldenNotice(t *testing.T, name, locale string) (account.Notice, Recipient) {
	t.Helper()
	cur, amount, limit := "USD", int64(123456), int64(500000)
	r := Recipient{CustomerID: "acme", Name: "Acme & Sons <Ltd>", Email: "billing@acme.test", Locale: locale}
	phone := "+1******0100"
	if locale == account.LocaleKorean {
		cur, amount, limit = "KRW", 1234560, 5000000
		r.Name = "(주)에이크미 & 선즈"
		phone = "+82******5678"
	}
	inv := "INV-acme-0007"
	n := account.Notice{
		Key: "acme:" + inv + ":" + name, Template: name, Stage: name, InvoiceID: inv, Reference: inv,
		AmountMinor: amount, BalanceMinor: amount, Currency: cur, DueAt: goldenDue,
	}
	noInvoice := func() { // an account-level notice
		n.Key, n.InvoiceID, n.Reference, n.DueAt = "acme:"+name+":12", "", "acme", time.Time{}
	}
	switch name {
	case "upcoming", "due":
		n.DeadlineAt = goldenSuspend
	case "overdue_1":
		n.DaysOverdue, n.DeadlineAt = 3, goldenSuspend
		n.Detail = map[string]string{PayURLDetail: "https://checkout.stripe.com/c/pay/cs_test_a1"}
	case "overdue_2":
		n.DaysOverdue, n.DeadlineAt = 7, goldenSuspend
	case "overdue_3":
		n.DaysOverdue, n.DeadlineAt = 10, goldenSuspend
	case "final_notice":
		n.DaysOverdue, n.DeadlineAt = 14, goldenSuspend
	case "suspended":
		n.DaysOverdue, n.DeadlineAt = 21, goldenTerminate
	case "termination_warning":
		n.DaysOverdue, n.DeadlineAt = 45, goldenTerminate
	case "terminated":
		n.DaysOverdue, n.BalanceMinor = 60, 0
	case "invoice_issued":
		n.DeadlineAt = goldenDue
	case "prepayment_request", "prepayment_reminder":
		n.InvoiceID, n.Reference = "INV-acme-0001", "INV-acme-0001"
		n.DueAt = time.Date(2026, 10, 8, 10, 0, 0, 0, time.UTC)
		n.DeadlineAt = n.DueAt
	case "application_cancelled", "application_rejected", "manual_review":
		noInvoice()
		n.AmountMinor, n.BalanceMinor = 0, 0
	case "reinstated":
		noInvoice()
		n.AmountMinor, n.BalanceMinor = 0, 0
	case "suspended_manual":
		noInvoice()
		n.Stage = "suspended"
	case "phone_verification":
		noInvoice()
		n.AmountMinor, n.BalanceMinor = 0, 0
		n.DeadlineAt = time.Date(2026, 10, 1, 9, 40, 0, 0, time.UTC)
		n.Detail = map[string]string{"phone_masked": phone}
	case "budget_threshold", "budget_hard_stop":
		noInvoice()
		n.AmountMinor = limit * 8 / 10
		n.Detail = map[string]string{"percent": "80", "limit_minor": strconv.FormatInt(limit, 10), "month": "2026-11"}
		if name == "budget_hard_stop" {
			n.AmountMinor, n.Detail["percent"] = limit, "100"
		}
	case "abuse_suspension":
		noInvoice()
		n.DeadlineAt = time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)
		n.Detail = map[string]string{"category": "crypto_mining", "notice_id": "AB-2026-0042"}
	case "misuse_terminated":
		noInvoice()
		n.Stage = "terminated"
	case "card_action_required":
		n.Stage = "card_action"
		n.Detail = map[string]string{"action": "update_card", "card": "visa 0069", PayURLDetail: "https://checkout.stripe.com/c/pay/cs_test_a1"}
	case "staff_alert":
		noInvoice()
		n.Staff, n.InvoiceID = true, inv
		r.Name, r.Email = "Billing team", "billing-team@example.com"
		n.DeadlineAt = time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)
		n.Detail = map[string]string{
			"kind": "enforcement_deadline", "summary": "Provider notice AB-2026-0042 (crypto_mining) is not reviewed yet",
			"notice_id": "AB-2026-0042", "category": "crypto_mining", "source": "provider <abuse@cloud.test>",
			"overdue_minor": strconv.FormatInt(amount, 10),
		}
	default:
		t.Fatalf("no golden fixture for template %q: add one to goldenNotice", name)
	}
	return n, r
}

// Every template in every locale renders its fixed notice exactly as in
// testdata/golden; `go test ./mail -update` rewrites the files after a
// deliberate change, and the diff is then reviewed like code.
func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, locale := range Locales() {
		for _, name := range Templates(locale) {
			t.Run(locale+"/"+name, func(t *testing.T) {
				n, r := goldenNotice(t, name, locale)
				m, err := Render(n, r)
				if err != nil {
					t.Fatal(err)
				}
				for ext, got := range map[string]string{"subject.txt": m.Subject + "\n", "txt": m.Text, "html": m.HTML} {
					file := filepath.Join("testdata", "golden", locale, name+"."+ext)
					seen[file] = true
					if *update {
						if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want, err := os.ReadFile(file)
					if err != nil {
						t.Fatalf("%v (run go test ./mail -update to create it)", err)
					}
					if got != string(want) {
						t.Errorf("%s differs from the rendered mail (run go test ./mail -update and review the diff):\n--- got\n%s\n--- want\n%s", file, got, want)
					}
				}
			})
		}
	}
	// A golden file whose template is gone is a leftover.
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*", "*"))
	for _, f := range files {
		if !seen[f] {
			if *update {
				_ = os.Remove(f)
				continue
			}
			t.Errorf("%s belongs to no template", f)
		}
	}
}

// The plain-text and HTML parts carry the same facts, the subject states
// nothing the body does not, and every dunning mail keeps the facts a
// customer needs to pay.
func TestTextAndHTMLCarryTheSameFacts(t *testing.T) {
	needs := map[string][]string{}
	for _, s := range []string{"upcoming", "due", "overdue_1", "overdue_2", "overdue_3", "final_notice", "suspended", "termination_warning"} {
		needs[s] = []string{"Amount", "InvoiceID", "Reference", "DueDate"}
	}
	for _, s := range []string{"overdue_2", "overdue_3", "final_notice", "suspended", "termination_warning"} {
		needs[s] = append(needs[s], "Deadline")
	}
	needs["invoice_issued"] = []string{"Amount", "InvoiceID", "Reference", "DueDate"}
	needs["prepayment_request"] = []string{"Amount", "Reference", "Deadline"}
	needs["prepayment_reminder"] = []string{"Amount", "Reference", "Deadline"}
	needs["terminated"] = []string{"Amount"}
	needs["misuse_terminated"] = []string{"Amount"}
	needs["reinstated"] = []string{"Balance"}
	needs["suspended_manual"] = []string{"Balance"}
	needs["phone_verification"] = []string{"DeadlineTime"}
	needs["abuse_suspension"] = []string{"DeadlineTime"}
	needs["budget_threshold"] = []string{"Amount"}
	needs["budget_hard_stop"] = []string{"Amount"}

	for _, locale := range Locales() {
		for _, name := range Templates(locale) {
			n, r := goldenNotice(t, name, locale)
			m, err := Render(n, r)
			if err != nil {
				t.Fatalf("%s/%s: %v", locale, name, err)
			}
			d := newData(n, r, locale)
			facts := map[string]string{
				"Name": r.Name, "Amount": d.Amount, "Balance": d.Balance, "InvoiceID": d.InvoiceID, "Reference": d.Reference,
				"DueDate": d.DueDate, "Deadline": d.Deadline, "DeadlineTime": d.DeadlineTime,
			}
			for k, v := range n.Detail {
				facts["detail "+k] = v
				if s, err := d.DetailMoney(k); err == nil && strings.HasSuffix(k, "_minor") {
					facts["detail "+k+" formatted"] = s
				}
			}
			if v, err := d.DetailMonth("month"); err == nil {
				facts["month"] = v
			}
			if v, err := d.Category(); err == nil {
				facts["category"] = v
			}
			body := html.UnescapeString(m.HTML)
			for what, v := range facts {
				if v == "" {
					continue
				}
				inText, inHTML := strings.Contains(m.Text, v), strings.Contains(body, v)
				if inText != inHTML {
					t.Errorf("%s/%s: %s %q is in the text: %v, in the HTML: %v", locale, name, what, v, inText, inHTML)
				}
				if strings.Contains(m.Subject, v) && !inText {
					t.Errorf("%s/%s: %s %q is in the subject but not the body", locale, name, what, v)
				}
			}
			for _, what := range needs[name] {
				if v := facts[what]; v == "" || !strings.Contains(m.Text, v) {
					t.Errorf("%s/%s: the mail does not state the %s (%q)", locale, name, what, v)
				}
			}
			// Only customer data may vary the HTML; markup from it is escaped.
			if strings.Contains(m.HTML, r.Name) {
				t.Errorf("%s/%s: the name is not escaped in the HTML", locale, name)
			}
		}
	}
}

// Every template exists in every locale, and both locales exist.
func TestEveryTemplateInEveryLocale(t *testing.T) {
	if got := Locales(); !slices.Equal(got, []string{"en", "ko"}) {
		t.Fatalf("locales = %v, want [en ko]", got)
	}
	en, ko := Templates("en"), Templates("ko")
	for _, n := range en {
		if !slices.Contains(ko, n) {
			t.Errorf("template %q has no Korean version", n)
		}
	}
	for _, n := range ko {
		if !slices.Contains(en, n) {
			t.Errorf("template %q has no English version", n)
		}
	}
}
