package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var daysPrefix = regexp.MustCompile(`^(\d+)d`)

// ParseDuration reads a policy duration: Go's time.ParseDuration syntax plus a
// leading whole-day part, so that "3d", "-3d", "1d12h", "90s" and "1500ms" all
// work. Days are exactly 24 hours; calendar months are only for intervals.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	var d time.Duration
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100_000 {
			return 0, fmt.Errorf("%q: too many days", orig)
		}
		d = time.Duration(n) * 24 * time.Hour
		s = s[len(m[0]):]
	}
	if s != "" {
		if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			return 0, fmt.Errorf("%q is not a duration like \"3d\", \"-72h\" or \"90s\"", orig)
		}
		rest, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like \"3d\", \"-72h\" or \"90s\"", orig)
		}
		d += rest
	} else if d == 0 && !strings.HasSuffix(orig, "d") {
		return 0, fmt.Errorf("%q is not a duration like \"3d\", \"-72h\" or \"90s\"", orig)
	}
	if neg {
		d = -d
	}
	return d, nil
}

// Interval is a billing interval: whole calendar months, or a fixed duration
// (used by the compressed demo policy).
type Interval struct {
	Months   int           `json:"months,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
}

var monthsPattern = regexp.MustCompile(`^(\d+)mo$`)

// ParseInterval reads "1mo", "3mo" or any positive ParseDuration value.
func ParseInterval(s string) (Interval, error) {
	if m := monthsPattern.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > 24 {
			return Interval{}, fmt.Errorf("%q: months must be between 1 and 24", s)
		}
		return Interval{Months: n}, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return Interval{}, fmt.Errorf("%q is not an interval like \"1mo\" or \"60s\"", s)
	}
	if d <= 0 {
		return Interval{}, fmt.Errorf("%q: an interval must be positive", s)
	}
	return Interval{Duration: d}, nil
}

// After returns the end of the interval that starts at t. Calendar months are
// added in UTC so that billing dates do not drift with daylight saving.
func (iv Interval) After(t time.Time) time.Time {
	if iv.Months > 0 {
		return t.UTC().AddDate(0, iv.Months, 0)
	}
	return t.Add(iv.Duration)
}

func (iv Interval) String() string {
	if iv.Months > 0 {
		return fmt.Sprintf("%dmo", iv.Months)
	}
	return iv.Duration.String()
}
