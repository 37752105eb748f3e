package money

import (
	"strings"
	"testing"
)

func TestLookupCurrency(t *testing.T) {
	for _, tc := range []struct {
		code    string
		exp     int
		wantErr bool
	}{
		{"USD", 2, false}, {"KRW", 0, false}, {"JPY", 0, false}, {"BHD", 3, false}, {"EUR", 2, false},
		{"usd", 0, true}, {"US", 0, true}, {"XXX", 0, true}, {"", 0, true}, {"USDD", 0, true},
	} {
		c, err := LookupCurrency(tc.code)
		if (err != nil) != tc.wantErr {
			t.Errorf("LookupCurrency(%q) error = %v, wantErr %v", tc.code, err, tc.wantErr)
			continue
		}
		if err == nil && c.Exponent != tc.exp {
			t.Errorf("LookupCurrency(%q).Exponent = %d, want %d", tc.code, c.Exponent, tc.exp)
		}
	}
	if len(currencies) < 150 {
		t.Errorf("only %d currencies loaded; the table is malformed", len(currencies))
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{123456, "USD", "$1,234.56"},
		{5, "USD", "$0.05"},
		{0, "USD", "$0.00"},
		{-2550, "EUR", "-€25.50"},
		{1234567, "KRW", "₩1,234,567"},
		{999, "KRW", "₩999"},
		{1234, "BHD", "BHD 1.234"},
		{100000000, "JPY", "¥100,000,000"},
		{12, "ZZZ", "12 ZZZ"},
	} {
		if got := Format(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Format(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{123456, "USD", "1234.56"}, {1, "USD", "0.01"}, {-1, "USD", "-0.01"}, {5000, "KRW", "5000"}, {7, "KWD", "0.007"},
	} {
		if got := Decimal(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Decimal(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

func TestValidatePositive(t *testing.T) {
	for _, v := range []int64{0, -1, MaxMinor + 1} {
		if err := ValidatePositive("amount_minor", v); err == nil {
			t.Errorf("ValidatePositive(%d) accepted a bad amount", v)
		}
	}
	if err := ValidatePositive("amount_minor", 1); err != nil {
		t.Errorf("ValidatePositive(1) = %v", err)
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in, currency string
		want         int64
		wantErr      string
	}{
		{"1234.56", "USD", 123456, ""},
		{"1,234.5", "USD", 123450, ""},
		{" 12 ", "USD", 1200, ""},
		{".5", "USD", 50, ""},
		{"0", "USD", 0, ""},
		{"12000", "KRW", 12000, ""},
		{"0.007", "KWD", 7, ""},
		{"1.234", "USD", 0, "more than 2 decimal places"},
		{"1.5", "KRW", 0, "more than 0 decimal places"},
		{"-5", "USD", 0, "must be a number"},
		{"+5", "USD", 0, "must be a number"},
		{"1e3", "USD", 0, "must be a number"},
		{"5.", "USD", 0, "must be a number"},
		{"", "USD", 0, "must be a number"},
		{"١٢", "USD", 0, "must be a number"},
		{"10000000000000.01", "USD", 0, "larger than the maximum"},
		{"99999999999999999999999", "KRW", 0, "larger than the maximum"},
		{"5", "usd", 0, "ISO 4217"},
	} {
		got, err := ParseDecimal(tc.in, tc.currency)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("ParseDecimal(%q, %s) = %d, %v; want %d", tc.in, tc.currency, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseDecimal(%q, %s) = %d, %v; want an error with %q", tc.in, tc.currency, got, err, tc.wantErr)
		}
	}
	// Round trip with Decimal.
	for _, m := range []int64{1, 99, 100, 123456789, MaxMinor} {
		if got, err := ParseDecimal(Decimal(m, "USD"), "USD"); err != nil || got != m {
			t.Errorf("round trip %d: %d, %v", m, got, err)
		}
	}
}
