package money

import "testing"

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
