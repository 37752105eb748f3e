package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
)

// Each template is one file per locale, templates/<locale>/<name>.tmpl, that
// defines "subject", "text" and "html" (the body inside the shared layout).
//
//go:embed templates
var templateFS embed.FS

// Recipient is who a customer email goes to.
type Recipient struct {
	CustomerID string
	Name       string
	Email      string
	Locale     string
}

// Data is what templates see.
type Data struct {
	Name        string
	CustomerID  string
	InvoiceID   string
	Reference   string
	Stage       string
	Amount      string // formatted for the currency, e.g. "$1,234.56"
	Balance     string
	DueDate     string // formatted for the locale
	Deadline    string
	DaysOverdue int
	Owed        bool // Amount is more than zero
}

type compiled struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

var (
	parseOnce sync.Once
	parsed    map[string]compiled // "en/overdue_1"
	parseErr  error
)

func load() (map[string]compiled, error) {
	parseOnce.Do(func() {
		parsed = map[string]compiled{}
		layout, err := fs.ReadFile(templateFS, "templates/layout.html.tmpl")
		if err != nil {
			parseErr = err
			return
		}
		files, _ := fs.Glob(templateFS, "templates/*/*.tmpl")
		for _, f := range files {
			src, err := fs.ReadFile(templateFS, f)
			if err != nil {
				parseErr = err
				return
			}
			key := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".tmpl")
			txt, err := texttemplate.New(key).Option("missingkey=error").Parse(string(src))
			if err != nil {
				parseErr = fmt.Errorf("template %s: %w", f, err)
				return
			}
			h, err := htmltemplate.New(key).Option("missingkey=error").Parse(string(layout))
			if err == nil {
				_, err = h.Parse(string(src))
			}
			if err != nil {
				parseErr = fmt.Errorf("template %s: %w", f, err)
				return
			}
			parsed[key] = compiled{text: txt, html: h}
		}
	})
	return parsed, parseErr
}

// Templates lists the template names available for a locale.
func Templates(locale string) []string {
	all, _ := load()
	var names []string
	for k := range all {
		if path.Dir(k) == locale {
			names = append(names, path.Base(k))
		}
	}
	return names
}

// FormatDate renders a date the way the locale writes it.
func FormatDate(t time.Time, locale string) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if locale == "ko" {
		return fmt.Sprintf("%d년 %d월 %d일", t.Year(), int(t.Month()), t.Day())
	}
	return t.Format("January 2, 2006")
}

// Render turns a notice into a message for the recipient.
func Render(n account.Notice, r Recipient) (Message, error) {
	all, err := load()
	if err != nil {
		return Message{}, err
	}
	tmpl, ok := all[r.Locale+"/"+n.Template]
	if !ok {
		return Message{}, fmt.Errorf("no email template %q for locale %q", n.Template, r.Locale)
	}
	d := Data{
		Name: r.Name, CustomerID: r.CustomerID, InvoiceID: n.InvoiceID, Reference: n.Reference, Stage: n.Stage,
		Amount: money.Format(n.AmountMinor, n.Currency), Balance: money.Format(n.BalanceMinor, n.Currency),
		DueDate: FormatDate(n.DueAt, r.Locale), Deadline: FormatDate(n.DeadlineAt, r.Locale), DaysOverdue: n.DaysOverdue,
		Owed: n.AmountMinor > 0,
	}
	var subject, text, html bytes.Buffer
	if err := tmpl.text.ExecuteTemplate(&subject, "subject", d); err != nil {
		return Message{}, fmt.Errorf("template %s subject: %w", n.Template, err)
	}
	if err := tmpl.text.ExecuteTemplate(&text, "text", d); err != nil {
		return Message{}, fmt.Errorf("template %s text: %w", n.Template, err)
	}
	if err := tmpl.html.ExecuteTemplate(&html, "layout", d); err != nil {
		return Message{}, fmt.Errorf("template %s html: %w", n.Template, err)
	}
	args := map[string]string{"customer_id": r.CustomerID, "stage": n.Stage, "dunning_key": n.Key}
	if n.InvoiceID != "" {
		args["invoice_id"] = n.InvoiceID
	}
	return Message{
		Key: n.Key, CustomerID: r.CustomerID, InvoiceID: n.InvoiceID, Stage: n.Stage, Template: n.Template,
		To: r.Email, ToName: r.Name,
		Subject:    strings.TrimSpace(subject.String()),
		Text:       strings.TrimSpace(text.String()) + "\n",
		HTML:       html.String(),
		Categories: []string{"dunning", n.Stage},
		CustomArgs: args,
	}, nil
}
