// Package money holds amounts of money as integer minor units plus an ISO 4217
// currency code. It never uses floating point.
package money

import (
	"fmt"
	"regexp"
)

// Currency describes an ISO 4217 currency.
type Currency struct {
	Code     string // three upper-case letters, e.g. "USD"
	Exponent int    // digits after the decimal point: 2 for USD, 0 for KRW
	Symbol   string // short symbol where one is in common use, else the code
}

// currencies lists the active ISO 4217 codes with their minor-unit exponents.
// Funds codes, precious metals and testing codes are left out on purpose:
// nobody is invoiced in them.
var currencies = map[string]Currency{}

func init() {
	exp := map[int]string{
		0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
		3: "BHD IQD JOD KWD LYD OMR TND",
		4: "CLF UYW",
		2: "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD " +
			"CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD " +
			"HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK " +
			"MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB " +
			"SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD " +
			"UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG",
	}
	symbols := map[string]string{
		"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KRW": "₩", "CNY": "CN¥", "INR": "₹",
		"AUD": "A$", "CAD": "CA$", "HKD": "HK$", "NZD": "NZ$", "SGD": "S$", "CHF": "CHF",
	}
	for e, codes := range exp {
		for i := 0; i+3 <= len(codes); i += 4 {
			code := codes[i : i+3]
			sym := symbols[code]
			if sym == "" {
				sym = code
			}
			currencies[code] = Currency{Code: code, Exponent: e, Symbol: sym}
		}
	}
}

var codePattern = regexp.MustCompile(`^[A-Z]{3}$`)

// LookupCurrency returns the currency for an ISO 4217 code, or an error that
// says why the code is not accepted.
func LookupCurrency(code string) (Currency, error) {
	if !codePattern.MatchString(code) {
		return Currency{}, fmt.Errorf("currency %q is not an ISO 4217 code (three upper-case letters, e.g. USD)", code)
	}
	c, ok := currencies[code]
	if !ok {
		return Currency{}, fmt.Errorf("currency %q is not an active ISO 4217 currency", code)
	}
	return c, nil
}
