package console

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/example/dunning/money"
)

// view is what every page template gets: the language, the session, the
// page's title key and messages, and the page's own Data.
type view struct {
	Lang    Lang
	Session *Session
	CSRF    string // the token forms carry
	Path    string // this page, for the language switch to come back to
	Title   string // message key
	Heading string // the page's heading when it is not its title (a customer's name)
	Nav     string // which navigation entry is current
	Flash   string // a success message
	Error   string // a page-level error message
	Detail  string // the backend's or validator's own words about Error
	Data    any
}

// T translates a message key.
func (v view) T(key string) string { return v.Lang.T(key) }

// Tf translates a word under a prefix, e.g. a status.
func (v view) Tf(prefix, word string) string { return v.Lang.Tf(prefix, word) }

// Role is the session's role in the page's language.
func (v view) Role() string {
	if v.Session == nil {
		return ""
	}
	return roleName(v.Lang, v.Session.Role)
}

// CanAct says whether to show action forms.
func (v view) CanAct() bool { return v.Session != nil && v.Session.CanAct() }

// Other is the language the switch offers.
func (v view) Other() Lang {
	if v.Lang == Korean {
		return English
	}
	return Korean
}

// SwitchURL is the language switch's link.
func (v view) SwitchURL() string {
	return Prefix + "lang?to=" + string(v.Other()) + "&back=" + url.QueryEscape(v.Path)
}

// Date shows a time in the page's language (UTC, minutes).
func (v view) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if v.Lang == Korean {
		return t.UTC().Format("2006년 1월 2일 15:04 UTC")
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// group writes a number with thousands separators: 1234567 -> 1,234,567.
func group(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return sign + b.String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func (s *server) view(r *http.Request, rc *reqCtx, title string) view {
	v := view{Lang: rc.lang, Session: rc.sess, Path: r.URL.RequestURI(), Title: title}
	if rc.sess != nil {
		v.CSRF = rc.sess.CSRF
	}
	return v
}

var funcs = template.FuncMap{
	"money": money.Format,
	// decimal is an amount as a form field takes it.
	"decimal": money.Decimal,
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"day": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"path":  url.PathEscape,
	"list":  func(xs ...string) []string { return xs },
	"group": group,
}

// pageFiles are the pages, each rendered inside layout.html.
var pageFiles = []string{"error.html", "signin.html", "queue.html", "customers.html", "customer.html",
	"onboard.html", "aging.html", "collections.html", "webhooks.html"}

func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, p := range pageFiles {
		out[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p))
	}
	return out
}

// render writes the page whole, so that a template error is a 500, not a
// half page.
func (s *server) render(w http.ResponseWriter, status int, page string, v view) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Logger.Error("console: render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
