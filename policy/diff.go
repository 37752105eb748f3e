package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Diff sets two policies side by side: their ladders day by day (each
// step's offset counted in its own policy's day, so that the demo policy's
// two-second day lines up with a real one) and every other setting that
// differs.
type Diff struct {
	A        string        `json:"a"`
	B        string        `json:"b"`
	Days     []DiffDay     `json:"days"`
	Settings []SettingDiff `json:"settings"`
}

// DiffDay is one day, relative to the invoice's due date, on which either
// ladder has a step.
type DiffDay struct {
	Day  float64    `json:"day"`
	A    []StepView `json:"a"`
	B    []StepView `json:"b"`
	Same bool       `json:"same"`
}

// StepView is a ladder step as shown in a diff.
type StepView struct {
	Stage  string `json:"stage"`
	Action Action `json:"action"`
}

// SettingDiff is a setting whose value differs, with both values as written
// in a policy file.
type SettingDiff struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// Compare diffs policy a against policy b.
func Compare(a, b Policy) Diff {
	d := Diff{A: a.ID(), B: b.ID(), Days: []DiffDay{}, Settings: []SettingDiff{}}
	byDay := map[float64]*DiffDay{}
	add := func(p Policy, side func(*DiffDay) *[]StepView) {
		for _, s := range p.Ladder {
			day := float64(s.Offset) / float64(p.Day)
			row := byDay[day]
			if row == nil {
				row = &DiffDay{Day: day, A: []StepView{}, B: []StepView{}}
				byDay[day] = row
			}
			*side(row) = append(*side(row), StepView{Stage: s.Stage, Action: s.Action})
		}
	}
	add(a, func(r *DiffDay) *[]StepView { return &r.A })
	add(b, func(r *DiffDay) *[]StepView { return &r.B })
	for _, row := range byDay {
		row.Same = slices.Equal(row.A, row.B)
		d.Days = append(d.Days, *row)
	}
	slices.SortFunc(d.Days, func(x, y DiffDay) int {
		switch {
		case x.Day < y.Day:
			return -1
		case x.Day > y.Day:
			return 1
		}
		return 0
	})
	for _, s := range settings {
		if va, vb := s.value(a), s.value(b); va != vb {
			d.Settings = append(d.Settings, SettingDiff{Field: s.field, A: va, B: vb})
		}
	}
	return d
}

// Differs reports whether the policies differ in anything a diff shows.
func (d Diff) Differs() bool {
	if len(d.Settings) > 0 {
		return true
	}
	return slices.ContainsFunc(d.Days, func(r DiffDay) bool { return !r.Same })
}

// settings are the fields a diff compares besides the ladder.
var settings = []struct {
	field string
	value func(Policy) string
}{
	{"day", func(p Policy) string { return dur(p.Day) }},
	{"billing.interval", func(p Policy) string { return p.Billing.Interval.String() }},
	{"billing.terms", func(p Policy) string { return dur(p.Billing.Terms) }},
	{"prepayment.periods", func(p Policy) string { return strconv.Itoa(p.Prepayment.Periods) }},
	{"prepayment.reminder_after", func(p Policy) string { return dur(p.Prepayment.ReminderAfter) }},
	{"prepayment.deadline", func(p Policy) string { return dur(p.Prepayment.Deadline) }},
	{"trust.on_time_invoices", func(p Policy) string { return strconv.Itoa(p.Trust.OnTimeInvoices) }},
	{"trust.require_phone_verified", func(p Policy) string { return strconv.FormatBool(p.Trust.RequirePhoneVerified) }},
	{"promise.max_length", func(p Policy) string { return dur(p.Promise.MaxLength) }},
	{"reviews.onboarding", func(p Policy) string { return dur(p.ReviewRules().Onboarding) }},
	{"reviews.severe", func(p Policy) string { return dur(p.ReviewRules().Severe) }},
	{"reviews.moderate", func(p Policy) string { return dur(p.ReviewRules().Moderate) }},
	{"reviews.minor", func(p Policy) string { return dur(p.ReviewRules().Minor) }},
	{"reviews.reminders", func(p Policy) string { return fmt.Sprint(p.ReviewRules().Reminders) }},
	{"channels", func(p Policy) string { return fmt.Sprint(p.NoticeChannels()) }},
	{"collection", func(p Policy) string {
		if p.Collection == nil {
			return "none (no automatic charge)"
		}
		return "charges the card on file"
	}},
	{"collection.retries", func(p Policy) string {
		if p.Collection == nil {
			return "-"
		}
		parts := make([]string, len(p.Collection.Retries))
		for i, r := range p.Collection.Retries {
			parts[i] = dur(r)
		}
		return strings.Join(parts, ", ")
	}},
	{"collection.network_attempts", func(p Policy) string {
		if p.Collection == nil {
			return "-"
		}
		return strconv.Itoa(p.Collection.NetworkAttempts)
	}},
	{"collection.network_window", func(p Policy) string {
		if p.Collection == nil {
			return "-"
		}
		return dur(p.Collection.NetworkWindow)
	}},
}

// dur writes a duration as a policy file would: whole days as "14d".
func dur(d time.Duration) string {
	const day = 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
