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
		"reinstated", "suspended_manual", "terminated", "application_rejected", "manual_review", "phone_verification",
		"budget_threshold", "budget_hard_stop", "abuse_suspension", "misuse_terminated", "staff_alert"}
	for _, name := range reg.Names() {
		p, _ := reg.Get(name)
		for _, s := range p.Ladder {
			needed = append(needed, s.Template)
		}
	}
	for _, locale := range []string{"en", "ko"} {
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

func TestRenderKorean(t *testing.T) {
	n := account.Notice{
		Key: "acme:INV-acme-0002:final_notice", Template: "final_notice", Stage: "final_notice",
		InvoiceID: "INV-acme-0002", AmountMinor: 1234560, Currency: "KRW", DaysOverdue: 14,
		DueAt:      time.Date(2026, 2, 15, 10, 0, 0, 0, time.UTC),
		DeadlineAt: time.Date(2026, 3, 8, 10, 0, 0, 0, time.UTC), Reference: "INV-acme-0002",
	}
	// Locales are normalized as applications are: "ko-KR" is Korean.
	m, err := Render(n, Recipient{CustomerID: "acme", Name: "에이크미", Email: "billing@acme.test", Locale: "ko-KR"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "[최종 통지] 2026년 3월 8일에 서비스가 정지됩니다" || m.Locale != account.LocaleKorean {
		t.Errorf("subject = %q, locale %q", m.Subject, m.Locale)
	}
	for _, want := range []string{"₩1,234,560", "2026년 2월 15일", "14일", "INV-acme-0002"} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("%q missing from text or HTML:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `<html lang="ko">`) {
		t.Errorf("html lang: %s", m.HTML)
	}
	if m, err := Render(n, Recipient{Locale: ""}); err != nil || m.Locale != account.LocaleEnglish {
		t.Errorf("empty locale: %v, %q", err, m.Locale)
	}
	if _, err := Render(n, Recipient{Locale: "fr"}); err == nil || !strings.Contains(err.Error(), `"fr"`) {
		t.Errorf("locale fr: err = %v", err)
	}
}

// A notice without what its template needs fails with an error that names
// the missing piece, instead of going out with a blank or "<no value>".
func TestRenderMissingData(t *testing.T) {
	budget := func(detail map[string]string) account.Notice {
		return account.Notice{Key: "k", Template: "budget_threshold", Stage: "budget_threshold", AmountMinor: 400000,
			Currency: "USD", Detail: detail}
	}
	for _, tc := range []struct {
		name   string
		notice account.Notice
		want   string
	}{
		{"no limit", budget(map[string]string{"percent": "80", "month": "2026-11"}), `notice detail "limit_minor" is missing`},
		{"no detail at all", budget(nil), `notice detail "percent" is missing`},
		{"empty value", budget(map[string]string{"percent": "", "limit_minor": "500000", "month": "2026-11"}), `notice detail "percent" is missing`},
		{"limit not a number", budget(map[string]string{"percent": "80", "limit_minor": "5,000", "month": "2026-11"}), `"limit_minor" is "5,000", not an amount`},
		{"bad month", budget(map[string]string{"percent": "80", "limit_minor": "500000", "month": "Nov 2026"}), `"month" is "Nov 2026", not a month`},
		{"no phone", account.Notice{Template: "phone_verification", DeadlineAt: time.Now()}, `notice detail "phone_masked" is missing`},
		{"no code expiry", account.Notice{Template: "phone_verification", Detail: map[string]string{"phone_masked": "+1***"}}, "deadline_at is required"},
		{"no category", account.Notice{Template: "abuse_suspension", DeadlineAt: time.Now(), Detail: map[string]string{"notice_id": "N1"}}, `notice detail "category" is missing`},
		{"no response deadline", account.Notice{Template: "abuse_suspension", Detail: map[string]string{"notice_id": "N1", "category": "spam"}}, "deadline_at is required"},
		{"no suspension date", account.Notice{Template: "final_notice", Currency: "USD"}, "deadline_at is required"},
		{"no termination date", account.Notice{Template: "termination_warning", Currency: "USD"}, "deadline_at is required"},
		{"no alert kind", account.Notice{Template: "staff_alert", Staff: true, Detail: map[string]string{"summary": "s"}}, `notice detail "kind" is missing`},
		{"no alert summary", account.Notice{Template: "staff_alert", Staff: true, Detail: map[string]string{"kind": "email_refused"}}, `notice detail "summary" is missing`},
	} {
		for _, locale := range []string{"en", "ko"} {
			_, err := Render(tc.notice, Recipient{CustomerID: "acme", Name: "Acme", Email: "a@acme.test", Locale: locale})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.notice.Template) {
				t.Errorf("%s (%s): err = %v, want one naming %s and %q", tc.name, locale, err, tc.notice.Template, tc.want)
			}
		}
	}
}

// The verification code must never travel by email, even if a notice
// carried it by mistake.
func TestPhoneVerificationNeverShowsTheCode(t *testing.T) {
	n := account.Notice{Key: "k", Template: "phone_verification", Stage: "phone_verification",
		DeadlineAt: time.Date(2026, 10, 1, 9, 40, 0, 0, time.UTC),
		Detail:     map[string]string{"phone_masked": "+1******0100", "code": "482913"}}
	for _, locale := range []string{"en", "ko"} {
		m, err := Render(n, Recipient{CustomerID: "acme", Name: "Acme", Email: "a@acme.test", Locale: locale})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.Subject+m.Text+m.HTML, "482913") {
			t.Errorf("%s: the code is in the mail", locale)
		}
		if !strings.Contains(m.Text, "+1******0100") {
			t.Errorf("%s: the masked phone is missing:\n%s", locale, m.Text)
		}
	}
	// The dynamic template data must not carry it either.
	m, _ := Render(n, Recipient{Locale: "en"})
	if detail, _ := m.TemplateData["detail"].(map[string]string); detail["code"] != "" {
		t.Error("the code is in the dynamic template data")
	}
}

func TestCategoryLabels(t *testing.T) {
	for _, c := range []string{"spam", "hacking", "ddos", "crypto_mining", "malware", "piracy_resale", "other"} {
		for _, locale := range []string{"en", "ko"} {
			if l := categoryLabel(c, locale); l == c || l == "" {
				t.Errorf("%s has no %s label", c, locale)
			}
		}
		if categoryLabel(c, "en") == categoryLabel(c, "ko") {
			t.Errorf("%s: the Korean label is the English one", c)
		}
	}
	// An unknown category is shown as given rather than stopping the notice.
	if l := categoryLabel("phishing", "ko"); l != "phishing" {
		t.Errorf("unknown category = %q", l)
	}
}

func TestStaffAlert(t *testing.T) {
	n := account.Notice{Key: "acme:staff:9", Template: "staff_alert", Stage: "staff_alert", Staff: true, Currency: "USD",
		Detail: map[string]string{"kind": "budget_threshold", "summary": "acme reached 90% of its budget",
			"percent": "90", "limit_minor": "500000", "month": "2026-11"}}
	m, err := Render(n, Recipient{CustomerID: "acme", Name: "Billing team", Email: "team@example.com", Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "[dunning] budget_threshold: acme" {
		t.Errorf("subject = %q", m.Subject)
	}
	want := "acme reached 90% of its budget\n\nCustomer: acme\nAlert:    budget_threshold\n\nDetails:\n" +
		"limit_minor: 500000 ($5,000.00)\nmonth: 2026-11\npercent: 90\n"
	if m.Text != want {
		t.Errorf("text =\n%s\nwant\n%s", m.Text, want)
	}
	if !slices.Contains(m.Categories, "staff") {
		t.Errorf("categories = %v", m.Categories)
	}
}

// Data from outside (a summary, a name) cannot break the subject header.
func TestSubjectIsOneLine(t *testing.T) {
	n := account.Notice{Template: "staff_alert", Stage: "staff_alert", Staff: true,
		Detail: map[string]string{"kind": "monitoring_hit\nBcc: x@y.test", "summary": "s"}}
	m, err := Render(n, Recipient{CustomerID: "acme", Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject = %q", m.Subject)
	}
}

func TestTemplateData(t *testing.T) {
	n := account.Notice{Key: "k", Template: "budget_threshold", Stage: "budget_threshold", AmountMinor: 400000, BalanceMinor: 1000,
		Currency: "USD", Detail: map[string]string{"percent": "80", "limit_minor": "500000", "month": "2026-11"}}
	m, err := Render(n, Recipient{CustomerID: "acme", Name: "Acme", Email: "a@acme.test", Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	d := m.TemplateData
	if d["amount"] != "$4,000.00" || d["amount_minor"] != int64(400000) || d["balance"] != "$10.00" ||
		d["customer_id"] != "acme" || d["locale"] != account.LocaleEnglish || d["subject"] != m.Subject || d["stage"] != "budget_threshold" {
		t.Errorf("template data = %v", d)
	}
	detail, _ := d["detail"].(map[string]string)
	if detail["limit_minor"] != "500000" || detail["limit"] != "$5,000.00" || detail["month_label"] != "November 2026" || detail["percent"] != "80" {
		t.Errorf("detail = %v", detail)
	}
}

// A suspension or reinstatement of some subscriptions names them, in both
// locales, escaped in HTML; one of the whole account does not.
func TestSuspensionNamesTheSubscriptions(t *testing.T) {
	for _, locale := range []string{"en", "ko"} {
		for _, tmpl := range []string{"suspended", "reinstated"} {
			n := account.Notice{Key: "acme:x:" + tmpl, Template: tmpl, Stage: tmpl, InvoiceID: "INV-acme-0001", AmountMinor: 10000,
				Currency: "USD", DaysOverdue: 21, DueAt: time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC), Reference: "INV-acme-0001",
				Detail: map[string]string{"subscriptions": "seats (Office <seats>)"}}
			r := Recipient{CustomerID: "acme", Name: "Acme", Email: "billing@acme.test", Locale: locale}
			m, err := Render(n, r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Text, "seats (Office <seats>)") || !strings.Contains(m.HTML, "seats (Office &lt;seats&gt;)") {
				t.Errorf("%s/%s does not name the subscriptions:\n%s\n%s", locale, tmpl, m.Text, m.HTML)
			}
			n.Detail = nil
			if m, err = Render(n, r); err != nil || strings.Contains(m.Text, "seats") {
				t.Errorf("%s/%s of the whole account: %v\n%s", locale, tmpl, err, m.Text)
			}
		}
	}
}
