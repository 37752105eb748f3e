package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSecret()
	if secret == other || !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+64 {
		t.Fatalf("secrets %q %q", secret, other)
	}
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	now := time.Unix(1_800_000_000, 0)
	header := Sign(secret, now, body)

	// The scheme as documented: HMAC-SHA256 of "<t>.<body>", hex.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(now.Unix(), 10) + "." + string(body)))
	if want := "t=1800000000,v1=" + hex.EncodeToString(m.Sum(nil)); header != want {
		t.Fatalf("header %q, want %q", header, want)
	}
	if err := Verify(secret, header, body, 0, now.Add(time.Minute)); err != nil {
		t.Fatalf("valid delivery refused: %v", err)
	}
	// A second v1 (a secret being replaced) may be the matching one.
	if err := Verify(secret, "t=1800000000,v1="+strings.Repeat("ab", 32)+","+strings.TrimPrefix(header, "t=1800000000,"), body, 0, now); err != nil {
		t.Fatalf("second signature not tried: %v", err)
	}

	for name, c := range map[string]struct {
		secret, header string
		body           []byte
		now            time.Time
		want           error
	}{
		"tampered body":    {secret, header, []byte(`{"id":"evt_1","type":"invoice.paid "}`), now, ErrNoSignature},
		"wrong secret":     {other, header, body, now, ErrNoSignature},
		"replayed later":   {secret, header, body, now.Add(6 * time.Minute), ErrStaleRequest},
		"from the future":  {secret, header, body, now.Add(-6 * time.Minute), ErrStaleRequest},
		"timestamp moved":  {secret, strings.Replace(header, "t=1800000000", "t=1800000001", 1), body, now, ErrNoSignature},
		"no timestamp":     {secret, strings.TrimPrefix(header, "t=1800000000,"), body, now, ErrBadHeader},
		"no signature":     {secret, "t=1800000000", body, now, ErrBadHeader},
		"not hex":          {secret, "t=1800000000,v1=zz", body, now, ErrBadHeader},
		"empty":            {secret, "", body, now, ErrBadHeader},
		"garbage":          {secret, "\x00\xff;;", body, now, ErrBadHeader},
		"v0 only":          {secret, "t=1800000000,v0=" + strings.TrimPrefix(header, "t=1800000000,v1="), body, now, ErrBadHeader},
		"truncated digest": {secret, header[:len(header)-2], body, now, ErrNoSignature},
	} {
		if err := Verify(c.secret, c.header, c.body, 5*time.Minute, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, u := range []string{"https://hooks.example.com/dunning", "https://10.0.0.5:8443/x?token=1"} {
		if err := ValidateURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://localhost/x", "http://[::1]:9/x"} {
		if err := ValidateURL(u, false); err == nil || !strings.Contains(err.Error(), "DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK") {
			t.Errorf("%s without the setting: %v", u, err)
		}
		if err := ValidateURL(u, true); err != nil {
			t.Errorf("%s with the setting: %v", u, err)
		}
	}
	for u, want := range map[string]string{
		"":                               "url is required",
		"http://hooks.example.com/x":     "must use https://",
		"http://127.0.0.2.example.com/x": "must use https://",
		"ftp://hooks.example.com/x":      "must use https://",
		"https:///nohost":                "must be absolute",
		"/relative":                      "must be absolute",
		"https://user:pw@example.com/":   "user name or password",
		"https://example.com/#frag":      "fragment",
		"https://example.com/a b":        "without spaces",
		"https://example.com/\x00":       "control characters",
		"https://example.com/" + strings.Repeat("a", MaxURLLength): "at most",
		"https://exa\xffmple.com/":                                 "valid text",
	} {
		if err := ValidateURL(u, true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", u, err, want)
		}
	}
}

func TestEndpointID(t *testing.T) {
	id, err := NewEndpointID()
	if err != nil || ValidateEndpointID(id) != nil {
		t.Fatalf("%q %v", id, err)
	}
	for _, bad := range []string{"", "we_", "we_0123456789abcdeg", "xx_0123456789abcdef", "we_0123456789abcdef0", "'; DROP TABLE x; --"} {
		if ValidateEndpointID(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The default schedule: 30 s, 2 min, 8 min, 32 min, 2 h 8 min, then 6 h
// until three days have passed since the first attempt.
func TestScheduleDefault(t *testing.T) {
	s := DefaultSchedule
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, 0)
	now := start
	var waits []string
	for n := 1; ; n++ {
		at, ok := s.Next(n, start, now)
		if !ok {
			break
		}
		waits = append(waits, at.Sub(now).String())
		now = at
	}
	want := "30s 2m0s 8m0s 32m0s 2h8m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s 6h0m0s"
	if got := strings.Join(waits, " "); got != want {
		t.Fatalf("waits\n got %s\nwant %s", got, want)
	}
	if now.Sub(start) > s.GiveUp {
		t.Fatalf("last attempt at %s, after the give-up time", now.Sub(start))
	}
	if (Schedule{First: time.Second, Max: time.Millisecond, GiveUp: time.Hour}).Validate() == nil {
		t.Fatal("max shorter than first accepted")
	}
}
