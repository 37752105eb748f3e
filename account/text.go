package account

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Text rules. Everything a caller writes into an update or an application
// ends up in workflow history, PostgreSQL text columns, emails, the audit
// log and CSV exports. It must be storable whole (PostgreSQL refuses NUL and
// invalid UTF-8) and must not disguise itself: control characters and
// Unicode bidirectional controls (the "Trojan Source" characters, which
// make "INV-1 ‮ 0001" display reversed) are refused, not stripped, so that
// what was accepted is exactly what was sent.
//
// Multi-line free text (note, detail, description, a dispute's reason) may
// hold line feeds and tabs; single-line text (names, actors, references,
// reasons for staff actions) may not.

// Limits of free text, in bytes of UTF-8.
const (
	MaxTextBytes  = 1000 // note, reason, detail, description, reference
	MaxActorRunes = 100  // actor
	MaxNameBytes  = 200  // application name
)

// Date window: no time in a request may be before MinYear or after
// MaxYear. Far-off dates are typing errors (0001-01-01, 20266-01-01) and
// would break arithmetic on durations (time.Duration overflows at 292
// years).
const (
	MinYear = 2000
	MaxYear = 2100
)

// TextProblem says why s cannot be accepted as text, or "" when it can.
// multiline allows line feeds and tabs.
func TextProblem(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if p := runeProblem(r, multiline); p != "" {
			return p
		}
	}
	return ""
}

func runeProblem(r rune, multiline bool) string {
	switch {
	case r == 0:
		return "contains a NUL character (U+0000)"
	case (r == '\n' || r == '\t') && multiline:
		return ""
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return fmt.Sprintf("contains a control character (U+%04X)", r)
	case r == 0x2028 || r == 0x2029:
		return fmt.Sprintf("contains a Unicode line or paragraph separator (U+%04X)", r)
	case isBidiControl(r):
		return fmt.Sprintf("contains a Unicode bidirectional control character (U+%04X)", r)
	case r == 0xfeff:
		return "contains a byte order mark (U+FEFF)"
	case r == utf8.RuneError:
		// What JSON decoders put in place of invalid UTF-8 or a lone
		// surrogate (\ud800): the text was damaged before it got here.
		return "contains the replacement character U+FFFD (text that was not valid Unicode)"
	case r >= 0xfff9 && r <= 0xfffb, r == 0xfffe || r == 0xffff:
		return fmt.Sprintf("contains a Unicode non-character (U+%04X)", r)
	}
	return ""
}

// isBidiControl reports the characters that change text direction:
// LRE, RLE, PDF, LRO, RLO (U+202A-U+202E), LRI, RLI, FSI, PDI
// (U+2066-U+2069), LRM and RLM (U+200E, U+200F) and ALM (U+061C).
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// allowedText says what a field may hold, for error messages.
func allowedText(multiline bool) string {
	if multiline {
		return "printable text; line feeds and tabs allowed"
	}
	return "printable text on one line"
}

// CheckText checks a free-text field: storable, no control or bidi
// characters (line feeds and tabs when multiline), at most maxBytes bytes,
// and not blank when required.
func CheckText(field, v string, maxBytes int, multiline, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(v) > maxBytes {
		return fmt.Errorf("%s is longer than %d characters", field, maxBytes)
	}
	if p := TextProblem(v, multiline); p != "" {
		return fmt.Errorf("%s %s: only %s is allowed", field, p, allowedText(multiline))
	}
	return nil
}

// CheckTime checks a time given in a request: set, and between MinYear
// and MaxYear.
func CheckTime(field string, t time.Time) error {
	if y := t.Year(); y < MinYear || y > MaxYear {
		return fmt.Errorf("%s %s is out of range: it must be between the years %d and %d",
			field, t.Format(time.RFC3339), MinYear, MaxYear)
	}
	return nil
}
