package reports

import (
	"regexp"
	"strings"
)

// Spreadsheet formula injection (OWASP "CSV Injection"): a cell that starts
// with =, +, - or @ is evaluated as a formula by Excel, LibreOffice and
// Google Sheets when the file is opened, and a leading tab or carriage
// return can hide such a start. Customer-supplied text (names, emails) in
// our CSV exports is therefore neutralised by prefixing a single quote,
// which spreadsheets show as text and hide. The full-width forms of the
// four characters are treated the same, as some spreadsheet imports fold
// them, and so is a formula character after leading spaces.
//
// Numbers, dates, IDs and codes that this system writes are not passed
// through SafeCell: a negative amount stays a number.

// formulaStarts are the characters that make a cell a formula.
const formulaStarts = "=+-@\t\r＝＋－＠"

// SafeCell returns s, with a single quote in front when a spreadsheet could
// read it as a formula.
func SafeCell(s string) string {
	t := strings.TrimLeft(s, " ")
	if t == "" {
		return s
	}
	for _, r := range formulaStarts {
		if strings.HasPrefix(t, string(r)) {
			return "'" + s
		}
	}
	return s
}

// e164 is a phone number as the application accepts it: a plus and digits
// only, which a spreadsheet reads as a number, never as a formula.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// safePhone keeps a well-formed phone number as it is (the agency's tools
// expect the leading +) and neutralises anything else.
func safePhone(s string) string {
	if e164.MatchString(s) {
		return s
	}
	return SafeCell(s)
}
