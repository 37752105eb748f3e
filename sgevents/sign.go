package sgevents

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
)

// ParsePublicKey reads SendGrid's verification key: base64 DER (PKIX), as
// the console shows it; a PEM block is taken too, in case someone pasted
// one. The key type is checked before the sendgrid-go helper converts it,
// because the helper panics on a key that is not ECDSA.
func ParsePublicKey(key string) (*ecdsa.PublicKey, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, fmt.Errorf("no SendGrid webhook verification key (%s)", PublicKeyEnv)
	}
	if block, _ := pem.Decode([]byte(key)); block != nil {
		key = base64.StdEncoding.EncodeToString(block.Bytes)
	}
	key = strings.Join(strings.Fields(key), "") // line breaks from copying
	der, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, errors.New("SendGrid webhook verification key is not base64")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("SendGrid webhook verification key: %w", err)
	}
	if k, ok := pub.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("SendGrid webhook verification key is a %T, not an ECDSA P-256 key", pub)
	}
	return eventwebhook.ConvertPublicKeyBase64ToECDSA(key)
}

// PublicKeyBase64 encodes a public key the way SendGrid shows its
// verification key, for tests and local setups that sign their own events.
func PublicKeyBase64(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// Sign signs a webhook body as SendGrid does: ECDSA over SHA-256 of the
// timestamp followed by the raw body, ASN.1 DER, base64. It is for tests
// (here and end-to-end) that post events to the handler.
func Sign(priv *ecdsa.PrivateKey, timestamp string, body []byte) (string, error) {
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, h.Sum(nil))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// NewSignedRequest builds a POST of body to url signed with priv at the
// given time, as SendGrid would send it.
func NewSignedRequest(ctx context.Context, url string, priv *ecdsa.PrivateKey, at time.Time, body []byte) (*http.Request, error) {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig, err := Sign(priv, ts, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(eventwebhook.VerificationHTTPHeader, sig)
	req.Header.Set(eventwebhook.TimestampHTTPHeader, ts)
	return req, nil
}
