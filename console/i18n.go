package console

import (
	"net/http"
	"strconv"
	"strings"
)

// Lang is a language the console speaks.
type Lang string

// The console's languages.
const (
	English Lang = "en"
	Korean  Lang = "ko"
)

// langCookie keeps the language picked with the switch.
const langCookie = "dunning_console_lang"

// pickLang is the language of the switch's cookie, else the best of the
// browser's Accept-Language, else English.
func pickLang(r *http.Request) Lang {
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(c.Value); ok {
			return l
		}
	}
	return acceptLang(r.Header.Get("Accept-Language"))
}

func parseLang(s string) (Lang, bool) {
	switch Lang(s) {
	case English, Korean:
		return Lang(s), true
	}
	return "", false
}

// acceptLang picks English or Korean from an Accept-Language header by
// quality, the first listed winning ties.
func acceptLang(header string) Lang {
	best, bestQ := English, -1.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		l, ok := parseLang(primary)
		if ok && q > 0 && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// T is the text of a message key in the language; an unknown key shows
// itself, so that a missing message is visible rather than blank.
func (l Lang) T(key string) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	if l == Korean {
		return m[1]
	}
	return m[0]
}

// Tf is T with a value or a status-like word looked up under a prefix,
// falling back to the word itself: Tf("status.", "past_due").
func (l Lang) Tf(prefix, word string) string {
	if _, ok := catalog[prefix+word]; ok {
		return l.T(prefix + word)
	}
	return word
}
