package money

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxMinor bounds any single amount so that sums over many invoices cannot
// overflow int64 (10^15 minor units is ten trillion dollars).
const MaxMinor int64 = 1_000_000_000_000_000

// ValidatePositive checks that minor is a positive amount that fits the bounds.
func ValidatePositive(field string, minor int64) error {
	switch {
	case minor <= 0:
		return fmt.Errorf("%s must be a positive amount in minor units, got %d", field, minor)
	case minor > MaxMinor:
		return fmt.Errorf("%s %d is larger than the maximum %d", field, minor, MaxMinor)
	}
	return nil
}

// Decimal renders minor units in the currency's major unit with a dot, e.g.
// 123456 USD -> "1234.56", 1000 KRW -> "1000". It is for machine-readable output.
func Decimal(minor int64, currency string) string {
	c, err := LookupCurrency(currency)
	if err != nil {
		return strconv.FormatInt(minor, 10)
	}
	return decimal(minor, c.Exponent, "")
}

// Format renders an amount for people: currency symbol, thousands grouping and
// the currency's minor digits, e.g. "$1,234.56" or "₩12,345". Locales that use
// the same conventions for these currencies (English and Korean do) share it.
func Format(minor int64, currency string) string {
	c, err := LookupCurrency(currency)
	if err != nil {
		return fmt.Sprintf("%d %s", minor, currency)
	}
	sign := ""
	if minor < 0 {
		sign = "-"
		minor = -minor
	}
	body := decimal(minor, c.Exponent, ",")
	if c.Symbol == c.Code {
		return sign + c.Code + " " + body
	}
	return sign + c.Symbol + body
}

func decimal(minor int64, exponent int, group string) string {
	sign := ""
	if minor < 0 {
		sign = "-"
		minor = -minor
	}
	digits := strconv.FormatInt(minor, 10)
	if len(digits) <= exponent {
		digits = strings.Repeat("0", exponent-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-exponent], digits[len(digits)-exponent:]
	if group != "" {
		var b strings.Builder
		for i, r := range whole {
			if i > 0 && (len(whole)-i)%3 == 0 {
				b.WriteString(group)
			}
			b.WriteRune(r)
		}
		whole = b.String()
	}
	if exponent == 0 {
		return sign + whole
	}
	return sign + whole + "." + frac
}

// ParseDecimal reads an amount people type in the currency's major unit,
// e.g. "1234.56" or "1,234.56" USD -> 123456, "12000" KRW -> 12000, into
// minor units. It refuses more fractional digits than the currency has, a
// sign, and anything above MaxMinor, never rounding.
func ParseDecimal(s, currency string) (int64, error) {
	c, err := LookupCurrency(currency)
	if err != nil {
		return 0, err
	}
	t := strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" && frac == "" || strings.Trim(whole+frac, "0123456789") != "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("amount %q must be a number like 1234.56", s)
	}
	if len(frac) > c.Exponent {
		return 0, fmt.Errorf("amount %q has more than %d decimal places, the most %s has", s, c.Exponent, c.Code)
	}
	digits := strings.TrimLeft(whole+frac+strings.Repeat("0", c.Exponent-len(frac)), "0")
	if digits == "" {
		return 0, nil
	}
	if len(digits) > 19 {
		return 0, fmt.Errorf("amount %q is larger than the maximum %s", s, Decimal(MaxMinor, c.Code))
	}
	minor, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || minor > MaxMinor {
		return 0, fmt.Errorf("amount %q is larger than the maximum %s", s, Decimal(MaxMinor, c.Code))
	}
	return minor, nil
}
