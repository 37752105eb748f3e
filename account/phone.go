package account

import (
	"fmt"
	"strings"
	"time"

	"github.com/example/dunning/policy"
)

// Phone verification limits: a code lives 15 minutes, allows five tries,
// and at most five codes are sent.
const (
	CodeTTL      = 15 * time.Minute
	CodeAttempts = 5
	MaxCodes     = 5
)

// Phone is the state of the SMS identity check. Only a salted hash of the
// code is kept; the code itself goes to the customer's phone only.
type Phone struct {
	Hash         string    `json:"hash,omitempty"`
	Salt         string    `json:"salt,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	AttemptsLeft int       `json:"attempts_left"`
	CodesSent    int       `json:"codes_sent"`
}

// CodeChecker compares a code with a stored salted hash.
type CodeChecker func(hash, salt, code string) bool

// CheckRequestCode is RequestPhoneCode's validator.
func (a *Account) CheckRequestCode() error {
	switch {
	case a.Status == StatusTerminated:
		return fmt.Errorf("account is terminated")
	case a.PhoneVerified:
		return fmt.Errorf("phone %s is already verified", maskPhone(a.Customer.Phone))
	case a.Phone.CodesSent >= MaxCodes:
		return fmt.Errorf("%d codes have been sent already; staff must verify the customer another way", MaxCodes)
	}
	return nil
}

// PhoneCodeSent records that a new code went out by SMS.
func (a *Account) PhoneCodeSent(hash, salt string, now time.Time) []Event {
	a.Phone = Phone{Hash: hash, Salt: salt, ExpiresAt: now.Add(CodeTTL), AttemptsLeft: CodeAttempts, CodesSent: a.Phone.CodesSent + 1}
	ev := a.newEvent(now, EventPhoneCodeSent, SystemActor, "verification code sent by SMS")
	ev.Detail = map[string]string{"phone": maskPhone(a.Customer.Phone), "expires_at": a.Phone.ExpiresAt.Format(time.RFC3339)}
	ev.Notice = a.notice(nil, "phone_verification", "phone_verification", a.Phone.ExpiresAt, now)
	ev.Notice.Detail = map[string]string{"phone_masked": maskPhone(a.Customer.Phone)}
	return a.finish([]Event{ev}, now, SystemActor, "phone verification")
}

// CheckPhoneCode is VerifyPhone's validator: it refuses codes that cannot
// succeed (already verified, none sent, expired, out of tries).
func (a *Account) CheckPhoneCode(p PhoneCode, now time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	switch {
	case a.Status == StatusTerminated:
		return fmt.Errorf("account is terminated")
	case a.PhoneVerified:
		return fmt.Errorf("phone is already verified: a code cannot be used again")
	case a.Phone.Hash == "":
		return fmt.Errorf("no verification code has been sent: request one with RequestPhoneCode")
	case !now.Before(a.Phone.ExpiresAt):
		return fmt.Errorf("the code expired at %s: request a new one", a.Phone.ExpiresAt.Format(time.RFC3339))
	case a.Phone.AttemptsLeft <= 0:
		return fmt.Errorf("too many wrong codes: request a new one")
	}
	return nil
}

// VerifyPhone checks a code. A wrong code uses up a try, which is recorded
// even though the update fails.
func (a *Account) VerifyPhone(p PhoneCode, check CodeChecker, now time.Time) ([]Event, error) {
	if err := a.CheckPhoneCode(p, now); err != nil {
		return nil, err
	}
	if !check(a.Phone.Hash, a.Phone.Salt, p.Code) {
		a.Phone.AttemptsLeft--
		ev := a.newEvent(now, EventPhoneCodeRejected, SystemActor, "wrong verification code")
		ev.Detail = map[string]string{"attempts_left": fmt.Sprint(a.Phone.AttemptsLeft)}
		return []Event{ev}, fmt.Errorf("the code does not match; %d tries left", a.Phone.AttemptsLeft)
	}
	a.PhoneVerified = true
	a.Phone = Phone{CodesSent: a.Phone.CodesSent}
	ev := a.newEvent(now, EventPhoneVerified, SystemActor, "SMS code confirmed")
	ev.Detail = map[string]string{"phone": maskPhone(a.Customer.Phone)}
	return a.finish([]Event{ev}, now, SystemActor, "phone verified"), nil
}

// maskPhone keeps the country prefix and the last four digits.
func maskPhone(p string) string {
	if len(p) < 7 {
		return "****"
	}
	masked := []byte(p)
	for i := 2; i < len(masked)-4; i++ {
		masked[i] = '*'
	}
	return string(masked)
}

// EmailBounced records that the customer's address cannot receive mail.
// Staff are told, and later notices go by the policy's next channel.
func (a *Account) EmailBounced(b Bounce, now time.Time) []Event {
	// A staff alert about this customer bounced at the staff's address,
	// not the customer's.
	if a.EmailUndeliverable || strings.HasPrefix(b.MessageKey, a.staffKeyPrefix()) {
		return nil
	}
	a.EmailUndeliverable = true
	ev := a.newEvent(now, EventEmailUndeliverable, SystemActor, b.Event+": "+b.Reason)
	ev.Detail = map[string]string{"message_key": b.MessageKey, "event": b.Event, "next_channel": string(a.NoticeChannel())}
	alert := a.staffAlert("address_undeliverable", fmt.Sprintf("%s's address %s is undeliverable (%s); notices now go by %s",
		a.Customer.CustomerID, a.Customer.Email, b.Event, a.NoticeChannel()),
		map[string]string{"message_key": b.MessageKey, "reason": b.Reason}, now)
	return a.finish([]Event{ev, alert}, now, SystemActor, "email undeliverable")
}

// NoticeChannel is how customer notices go now: email until the address
// is undeliverable, then the policy's next channel.
func (a *Account) NoticeChannel() policy.Channel {
	for _, c := range a.Policy.NoticeChannels() {
		if c == policy.ChannelEmail && a.EmailUndeliverable {
			continue
		}
		return c
	}
	return policy.ChannelNone
}
