package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/example/dunning/account"
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

type compiled struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

var (
	parseOnce sync.Once
	parsed    map[string]compiled // "en/overdue_1"
	parseErr  error
)

// funcs are shared by the text and HTML templates. Detail values are read
// through Data's methods instead, which know the locale and currency.
var funcs = map[string]any{
	// required stops a template that needs a notice field the notice left
	// empty, rather than sending a mail with a blank where a date should be.
	"required": func(field, v string) (string, error) {
		if v == "" {
			return "", fmt.Errorf("notice field %s is required by this template but is empty", field)
		}
		return v, nil
	},
}

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
			txt, err := texttemplate.New(key).Option("missingkey=error").Funcs(funcs).Parse(string(src))
			if err != nil {
				parseErr = fmt.Errorf("template %s: %w", f, err)
				return
			}
			h, err := htmltemplate.New(key).Option("missingkey=error").Funcs(funcs).Parse(string(layout))
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

// Templates lists the template names available for a locale, sorted.
func Templates(locale string) []string {
	all, _ := load()
	var names []string
	for k := range all {
		if path.Dir(k) == locale {
			names = append(names, path.Base(k))
		}
	}
	slices.Sort(names)
	return names
}

// Locales lists the locales that have templates, sorted.
func Locales() []string {
	all, _ := load()
	var locales []string
	for k := range all {
		if l := path.Dir(k); !slices.Contains(locales, l) {
			locales = append(locales, l)
		}
	}
	slices.Sort(locales)
	return locales
}

// normalizeLocale maps "" to "en" and "ko-KR" to "ko", as applications are
// normalized, so that a staff address configured by hand works too.
func normalizeLocale(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	if l == "" {
		return "en"
	}
	return l
}

// FormatDate renders a date the way the locale writes it.
func FormatDate(t time.Time, locale string) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if locale == account.LocaleKorean {
		return fmt.Sprintf("%d년 %d월 %d일", t.Year(), int(t.Month()), t.Day())
	}
	return t.Format("January 2, 2006")
}

// FormatDateTime renders a moment with its time of day in UTC, for deadlines
// that are hours rather than days away (a verification code, a response to a
// misuse report).
func FormatDateTime(t time.Time, locale string) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if locale == account.LocaleKorean {
		return FormatDate(t, locale) + t.Format(" 15:04 (UTC)")
	}
	return t.Format("15:04 UTC on January 2, 2006")
}

// textBody is the plain-text part, with the pay-now line when there is a page.
func textBody(text string, d Data) string {
	body := strings.TrimSpace(text) + "\n"
	if d.PayURL != "" {
		body += "\n" + d.payLine() + "\n"
	}
	return body
}

// Render turns a notice into a message for the recipient.
func Render(n account.Notice, r Recipient) (Message, error) {
	all, err := load()
	if err != nil {
		return Message{}, err
	}
	locale := normalizeLocale(r.Locale)
	tmpl, ok := all[locale+"/"+n.Template]
	if !ok {
		return Message{}, fmt.Errorf("no email template %q for locale %q", n.Template, locale)
	}
	d := newData(n, r, locale)
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
	// SendGrid refuses empty and repeated categories.
	categories := []string{"dunning"}
	if n.Stage != "" && n.Stage != "dunning" {
		categories = append(categories, n.Stage)
	}
	if n.Staff && !slices.Contains(categories, "staff") {
		categories = append(categories, "staff")
	}
	// A subject is one header line whatever the data holds.
	subj := strings.Join(strings.Fields(subject.String()), " ")
	return Message{
		Key: n.Key, CustomerID: r.CustomerID, InvoiceID: n.InvoiceID, Stage: n.Stage, Template: n.Template,
		Locale: locale, To: r.Email, ToName: r.Name,
		Subject:      subj,
		Text:         textBody(text.String(), d),
		HTML:         html.String(),
		Categories:   categories,
		CustomArgs:   args,
		TemplateData: d.dynamic(subj),
	}, nil
}
