package webhooks

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxURLLength bounds an endpoint URL.
const MaxURLLength = 2048

// MaxDescriptionLength bounds an endpoint's description.
const MaxDescriptionLength = 200

// ValidateURL checks an endpoint URL: absolute https with a host, no user
// info or fragment. allowLoopbackHTTP also accepts http:// to a loopback
// host (localhost, 127.0.0.0/8, ::1), for development and tests.
func ValidateURL(raw string, allowLoopbackHTTP bool) error {
	if raw == "" {
		return errors.New("url is required")
	}
	if len(raw) > MaxURLLength || !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("url must be at most %d characters of valid text without spaces or control characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %v", raw, err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("url %q must be absolute, like https://hooks.example.com/dunning", raw)
	}
	if u.User != nil {
		return fmt.Errorf("url %q must not carry a user name or password (the signature authenticates deliveries)", raw)
	}
	if u.Fragment != "" {
		return fmt.Errorf("url %q must not have a #fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowLoopbackHTTP && isLoopback(u.Hostname()) {
			return nil
		}
		if isLoopback(u.Hostname()) {
			return fmt.Errorf("url %q: endpoints must use https (http:// to a loopback host needs DUNNING_WEBHOOK_ALLOW_HTTP_LOOPBACK=true)", raw)
		}
	}
	return fmt.Errorf("url %q: endpoints must use https://", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateDescription checks an endpoint's free-text description.
func ValidateDescription(s string) error {
	if len(s) > MaxDescriptionLength || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("description must be at most %d characters of text without control characters", MaxDescriptionLength)
	}
	return nil
}

// NewEndpointID makes an endpoint ID.
func NewEndpointID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "we_" + hex.EncodeToString(b[:]), nil
}

// ValidateEndpointID checks an endpoint ID as NewEndpointID makes them.
func ValidateEndpointID(id string) error {
	if len(id) != 19 || !strings.HasPrefix(id, "we_") {
		return fmt.Errorf("endpoint %q is not an endpoint ID like we_0123456789abcdef", id)
	}
	if _, err := hex.DecodeString(id[3:]); err != nil {
		return fmt.Errorf("endpoint %q is not an endpoint ID like we_0123456789abcdef", id)
	}
	return nil
}

// Schedule is when a delivery that failed is tried again: First after the
// first failure, each wait four times the one before up to Max, until
// GiveUp has passed since the first attempt; then the delivery is failed
// and the customer's next event to the endpoint goes.
type Schedule struct {
	First  time.Duration
	Max    time.Duration
	GiveUp time.Duration
}

// DefaultSchedule: 30 s, 2 min, 8 min, 32 min, about 2 h, then every 6 h,
// for 3 days (about 17 attempts).
var DefaultSchedule = Schedule{First: 30 * time.Second, Max: 6 * time.Hour, GiveUp: 72 * time.Hour}

// backoffFactor is how much longer each wait is than the one before.
const backoffFactor = 4

// Validate checks the schedule.
func (s Schedule) Validate() error {
	if s.First <= 0 || s.Max < s.First || s.GiveUp < s.First {
		return fmt.Errorf("webhook retry schedule: first wait %s must be positive, the longest wait %s and the give-up time %s at least as long",
			s.First, s.Max, s.GiveUp)
	}
	return nil
}

// Next says when to try again after the n-th failed attempt (n from 1) of a
// schedule that started at started, or that it is over.
func (s Schedule) Next(n int, started, now time.Time) (time.Time, bool) {
	wait := s.First
	for i := 1; i < n && wait < s.Max; i++ {
		wait *= backoffFactor
	}
	wait = min(wait, s.Max)
	at := now.Add(wait)
	if at.Sub(started) > s.GiveUp {
		return time.Time{}, false
	}
	return at, true
}
