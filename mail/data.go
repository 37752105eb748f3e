package mail

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
)

// Data is what templates see.
type Data struct {
	Locale       string
	Name         string
	CustomerID   string
	InvoiceID    string
	Reference    string
	Stage        string
	Currency     string
	Amount       string // formatted for the currency, e.g. "$1,234.56"
	Balance      string
	DueDate      string // formatted for the locale
	Deadline     string
	DeadlineTime string // Deadline with the time of day, for deadlines hours away
	DaysOverdue  int
	Owed         bool // Amount is more than zero
	Staff        bool // an alert for the billing team
	// PayURL is the invoice's hosted pay-now page (Notice.Detail
	// "pay_url", added by the sending activity), shown as a button.
	PayURL string
	// Subscriptions names the subscriptions a suspension or reinstatement
	// affects (Notice.Detail "subscriptions"), when it is not the whole
	// account's.
	Subscriptions string

	amountMinor, balanceMinor int64
	// detail is reached through the methods below only, so that a key the
	// notice lacks fails the render instead of printing "<no value>".
	detail map[string]string
}

func newData(n account.Notice, r Recipient, locale string) Data {
	return Data{
		Locale: locale, Name: r.Name, CustomerID: r.CustomerID, InvoiceID: n.InvoiceID, Reference: n.Reference,
		Stage: n.Stage, Currency: n.Currency,
		Amount: money.Format(n.AmountMinor, n.Currency), Balance: money.Format(n.BalanceMinor, n.Currency),
		DueDate: FormatDate(n.DueAt, locale), Deadline: FormatDate(n.DeadlineAt, locale),
		DeadlineTime: FormatDateTime(n.DeadlineAt, locale), DaysOverdue: n.DaysOverdue,
		Owed: n.AmountMinor > 0, Staff: n.Staff, PayURL: n.Detail[PayURLDetail], Subscriptions: n.Detail["subscriptions"],
		amountMinor: n.AmountMinor, balanceMinor: n.BalanceMinor, detail: n.Detail,
	}
}

// PayURLDetail is the notice detail that carries the pay-now page.
const PayURLDetail = "pay_url"

// PayLabel is the pay-now button's text.
func (d Data) PayLabel() string {
	if d.Locale == account.LocaleKorean {
		return "지금 결제하기"
	}
	return "Pay now"
}

// payLine is the pay-now line appended to the plain-text part.
func (d Data) payLine() string {
	if d.Locale == account.LocaleKorean {
		return "안전한 결제 페이지에서 지금 결제하기: " + d.PayURL
	}
	return "Pay now on our secure payment page: " + d.PayURL
}

// Action is what a card_action_required notice asks for: update_card or
// authenticate.
func (d Data) Action() string { return d.detail["action"] }

// Card names the card on file, e.g. "visa 4242".
func (d Data) Card() string { return d.detail["card"] }

// Days is DaysOverdue in words: "1 day", "14 days", "14일".
func (d Data) Days() string {
	switch {
	case d.Locale == account.LocaleKorean:
		return fmt.Sprintf("%d일", d.DaysOverdue)
	case d.DaysOverdue == 1:
		return "1 day"
	}
	return fmt.Sprintf("%d days", d.DaysOverdue)
}

// Detail is a value from Notice.Detail; a missing or empty one is an error.
func (d Data) Detail(key string) (string, error) {
	v := d.detail[key]
	if v == "" {
		return "", fmt.Errorf("notice detail %q is missing", key)
	}
	return v, nil
}

// DetailMoney formats a "_minor" detail value in the notice's currency.
func (d Data) DetailMoney(key string) (string, error) {
	v, err := d.Detail(key)
	if err != nil {
		return "", err
	}
	minor, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "", fmt.Errorf("notice detail %q is %q, not an amount in minor units", key, v)
	}
	return money.Format(minor, d.Currency), nil
}

// DetailMonth formats a "2026-11" detail value as the locale names a month.
func (d Data) DetailMonth(key string) (string, error) {
	v, err := d.Detail(key)
	if err != nil {
		return "", err
	}
	t, err := time.Parse("2006-01", v)
	if err != nil {
		return "", fmt.Errorf("notice detail %q is %q, not a month like 2026-11", key, v)
	}
	return monthLabel(t, d.Locale), nil
}

func monthLabel(t time.Time, locale string) string {
	if locale == account.LocaleKorean {
		return fmt.Sprintf("%d년 %d월", t.Year(), int(t.Month()))
	}
	return t.Format("January 2006")
}

// categoryLabels name the misuse categories of ReportAbuse for customers.
var categoryLabels = map[string]map[string]string{
	"en": {
		"spam":          "Sending spam",
		"hacking":       "Hacking or unauthorized access",
		"ddos":          "Denial-of-service (DDoS) attacks",
		"crypto_mining": "Cryptocurrency mining",
		"malware":       "Distributing malware",
		"piracy_resale": "Reselling pirated subscriptions",
		"other":         "Other violation of our acceptable use policy",
	},
	"ko": {
		"spam":          "스팸 발송",
		"hacking":       "해킹 또는 무단 접근",
		"ddos":          "서비스 거부(DDoS) 공격",
		"crypto_mining": "암호화폐 채굴",
		"malware":       "악성코드 유포",
		"piracy_resale": "불법 복제 구독 재판매",
		"other":         "기타 이용 정책 위반",
	},
}

// Category is the label of Detail["category"] for the locale. A category
// this list does not know is shown as given: the suspension notice must go
// out even if the list lags behind the categories ReportAbuse accepts.
func (d Data) Category() (string, error) {
	v, err := d.Detail("category")
	if err != nil {
		return "", err
	}
	return categoryLabel(v, d.Locale), nil
}

func categoryLabel(v, locale string) string {
	labels, ok := categoryLabels[locale]
	if !ok {
		labels = categoryLabels["en"]
	}
	if l, ok := labels[v]; ok {
		return l
	}
	return v
}

// Field is one "key: value" line of a staff alert.
type Field struct {
	Key, Value string
}

// staffHeadline are the detail keys a staff alert shows in its own place.
var staffHeadline = []string{"kind", "summary"}

// Extra lists the detail keys a staff alert does not show elsewhere, sorted,
// with "_minor" amounts also formatted for people.
func (d Data) Extra() []Field {
	var out []Field
	for k, v := range d.detail {
		if slices.Contains(staffHeadline, k) {
			continue
		}
		if minor, err := strconv.ParseInt(v, 10, 64); err == nil && strings.HasSuffix(k, "_minor") {
			v += " (" + money.Format(minor, d.Currency) + ")"
		}
		out = append(out, Field{k, v})
	}
	slices.SortFunc(out, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// secretDetail is never passed to SendGrid: a phone verification code must
// reach the customer by SMS only, even if a notice carried it by mistake.
const secretDetail = "code"

// dynamic is the dynamic_template_data for a SendGrid dynamic template: the
// template data as JSON-friendly values, plus the detail with its amounts,
// month and category already formatted, since handlebars cannot.
func (d Data) dynamic(subject string) map[string]any {
	detail := map[string]string{}
	for k, v := range d.detail {
		if k == secretDetail {
			continue
		}
		detail[k] = v
	}
	derive := func(k, v string) {
		if _, ok := detail[k]; !ok {
			detail[k] = v
		}
	}
	for k, v := range d.detail {
		if base, ok := strings.CutSuffix(k, "_minor"); ok {
			if minor, err := strconv.ParseInt(v, 10, 64); err == nil {
				derive(base, money.Format(minor, d.Currency))
			}
		}
	}
	if v := d.detail["category"]; v != "" {
		derive("category_label", categoryLabel(v, d.Locale))
	}
	if t, err := time.Parse("2006-01", d.detail["month"]); err == nil {
		derive("month_label", monthLabel(t, d.Locale))
	}
	return map[string]any{
		"subject":       subject,
		"locale":        d.Locale,
		"name":          d.Name,
		"customer_id":   d.CustomerID,
		"invoice_id":    d.InvoiceID,
		"reference":     d.Reference,
		"stage":         d.Stage,
		"currency":      d.Currency,
		"amount":        d.Amount,
		"amount_minor":  d.amountMinor,
		"balance":       d.Balance,
		"balance_minor": d.balanceMinor,
		"due_date":      d.DueDate,
		"deadline":      d.Deadline,
		"deadline_time": d.DeadlineTime,
		"days_overdue":  d.DaysOverdue,
		"owed":          d.Owed,
		"staff":         d.Staff,
		"detail":        detail,
	}
}
