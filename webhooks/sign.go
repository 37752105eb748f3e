package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of every delivery. The signature header is Stripe's scheme:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
// endpoint's secret>".
const (
	SignatureHeader = "Dunning-Signature"
	EventIDHeader   = "Dunning-Event-Id"
	EventTypeHeader = "Dunning-Event-Type"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock before Verify refuses it (a replayed old delivery).
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a signing secret, so that a leaked one is recognised.
const secretPrefix = "whsec_"

// NewSecret makes an endpoint's signing secret: 32 random bytes.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("signing secret: %w", err)
	}
	return secretPrefix + hex.EncodeToString(b[:]), nil
}

// Sign returns the signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors Verify returns (wrapped with detail).
var (
	ErrBadHeader    = errors.New("malformed signature header")
	ErrNoSignature  = errors.New("no matching signature")
	ErrStaleRequest = errors.New("timestamp outside the tolerance")
)

// Verify checks a delivery as a receiver should: header is the
// Dunning-Signature header, body the raw request body, tolerance how far
// the timestamp may be from now (DefaultTolerance when zero). Any v1 entry
// may match (several are sent while a secret is being replaced). It is
// constant-time in the signature.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrBadHeader, part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return fmt.Errorf("%w: v1 is not hex", ErrBadHeader)
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no t=<unix seconds>", ErrBadHeader)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrBadHeader)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now, tolerance %s", ErrStaleRequest, d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrNoSignature
}
