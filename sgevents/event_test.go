package sgevents

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
)

func TestParseBatch(t *testing.T) {
	body := []byte(`[
		{"sg_event_id":"a","event":"Bounce","type":"blocked","timestamp":1772442000,"dunning_key":"k","customer_id":42,"stage":null,"reason":"x\u0000y"},
		{"event":"delivered","timestamp":"1772442001","category":["a","b"],"invoice_id":{"odd":true}}
	]`)
	evs, err := ParseBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	a := evs[0]
	if a.EventID != "a" || a.Event != "bounce" || a.HardBounce() || a.Undeliverable() || a.DeliveryStatus() != StatusBlocked ||
		a.CustomerID != "42" || a.Stage != "" || a.Reason != "xy" || !a.OccurredAt.Equal(time.Unix(1772442000, 0)) {
		t.Errorf("first event read as %+v", a)
	}
	b := evs[1]
	if len(b.EventID) != len("sha256:")+64 || b.InvoiceID != "" || !b.OccurredAt.Equal(time.Unix(1772442001, 0)) {
		t.Errorf("second event read as %+v", b)
	}
	again, err := ParseBatch(body)
	if err != nil || again[1].EventID != b.EventID {
		t.Error("an event without sg_event_id does not get the same key twice")
	}
	for _, bad := range []string{``, `{}`, `[1]`, `[{"event":"open"}`, `null x`} {
		if _, err := ParseBatch([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", bad, err)
		}
	}
	if evs, err := ParseBatch([]byte(`[]`)); err != nil || len(evs) != 0 {
		t.Errorf("empty batch: %v, %v", evs, err)
	}
}

func TestSignIsWhatTheHelperVerifies(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"event":"open"}]` + "\r\n")
	sig, err := Sign(priv, "1772442000", body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ts   string
		body []byte
		want bool
	}{{"1772442000", body, true}, {"1772442001", body, false}, {"1772442000", body[:len(body)-2], false}} {
		ok, err := eventwebhook.VerifySignature(&priv.PublicKey, c.body, sig, c.ts)
		if err != nil || ok != c.want {
			t.Errorf("verify(%s, %q) = %v, %v; want %v", c.ts, c.body, ok, err, c.want)
		}
	}
}
