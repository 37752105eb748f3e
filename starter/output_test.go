package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
)

// Staff see the card on file, whether it is charged, and each invoice's
// attempts and next charge.
func TestStatusShowsTheCard(t *testing.T) {
	due := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	v := account.StatusView{CustomerID: "acme", Currency: "USD", Status: account.StatusPastDue,
		Card:            &account.CardView{Brand: "visa", Last4: "0069", ExpMonth: 1, ExpYear: 2026, Blocked: "after_card_change"},
		Invoices:        []account.InvoiceView{{ID: "INV-acme-0002", AmountMinor: 10000, OutstandingMinor: 10000, DueAt: due, Stage: "due", ChargeAttempts: 1}},
		OpenChargebacks: 1}
	var out bytes.Buffer
	if err := printStatus(&out, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Card:     visa 0069, expires 01/2026: not charged until replaced (after_card_change)", "Chargebacks: 1 open, 0 lost", "1 tried"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
