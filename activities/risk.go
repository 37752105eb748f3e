package activities

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/example/dunning/account"
	"github.com/example/dunning/risk"
	"github.com/example/dunning/risk/providers"
)

// ScreenInput is an application to screen, as of the workflow's start.
type ScreenInput struct {
	Application account.Application `json:"application"`
	At          time.Time           `json:"at"`
}

// ScreenResult is the decision and the policy it calls for.
type ScreenResult struct {
	Screening account.Screening `json:"screening"`
	Policy    string            `json:"policy"`
}

// Screen runs the onboarding rules: it counts recent sign-ups that share
// the IP, phone, email domain or card BIN, asks the credit provider, and
// applies risk.Screen. The rules are pure; this activity only gathers their
// inputs, so a decision can be explained from its reasons alone.
func (a *Activities) Screen(ctx context.Context, in ScreenInput) (ScreenResult, error) {
	app := in.Application
	counts, err := a.Store.VelocityCounts(ctx, app, in.At.Add(-a.Risk.Velocity.Window), in.At)
	if err != nil {
		return ScreenResult{}, err
	}
	sig := risk.Signals{Velocity: counts}
	report, err := a.Credit.Check(ctx, app)
	switch {
	case err == nil:
		sig.Credit = &report
	case providers.Permanent(err):
		// A provider that refuses this applicant leaves the rules without a
		// report, which they score as unknown.
		a.Logger.Warn("credit check refused; screening without it", "customer", app.CustomerID, "error", err)
	default:
		return ScreenResult{}, fmt.Errorf("credit check: %w", err)
	}
	d := risk.Screen(app, sig, a.Risk)
	s := account.Screening{Outcome: d.Outcome, Tier: string(d.Tier), Score: d.Score, Summary: d.Summary()}
	for _, r := range d.Reasons {
		if r.Points == 0 && !r.Hard {
			continue
		}
		s.Reasons = append(s.Reasons, fmt.Sprintf("%s: %s (%+d)", r.Rule, r.Detail, r.Points))
	}
	return ScreenResult{Screening: s, Policy: d.Policy(app.Policy)}, nil
}

// PhoneCodeInput asks for a verification code by SMS.
type PhoneCodeInput struct {
	CustomerID string `json:"customer_id"`
	Phone      string `json:"phone"`
	Locale     string `json:"locale"`
}

// PhoneCodeResult is the code's salted hash; the code itself only goes to
// the phone, never into workflow history.
type PhoneCodeResult struct {
	Hash string `json:"hash"`
	Salt string `json:"salt"`
}

// SendPhoneCode makes a fresh code and sends it by SMS. A retry sends a new
// code; the last one sent is the one that counts.
func (a *Activities) SendPhoneCode(ctx context.Context, in PhoneCodeInput) (PhoneCodeResult, error) {
	code, err := providers.NewCode()
	if err != nil {
		return PhoneCodeResult{}, err
	}
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return PhoneCodeResult{}, err
	}
	body := fmt.Sprintf("Your verification code is %s. It expires in %d minutes.", code, int(account.CodeTTL.Minutes()))
	if in.Locale == account.LocaleKorean {
		body = fmt.Sprintf("인증번호는 %s입니다. %d분 후에 만료됩니다.", code, int(account.CodeTTL.Minutes()))
	}
	if err := a.SMS.SendSMS(ctx, in.Phone, body); err != nil {
		if providers.Permanent(err) {
			return PhoneCodeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "SMSRefused", err)
		}
		return PhoneCodeResult{}, err
	}
	s := hex.EncodeToString(salt[:])
	return PhoneCodeResult{Hash: risk.HashCode(code, a.CodeSecret+s), Salt: s}, nil
}

// CodeCheck asks whether a code matches a stored hash.
type CodeCheck struct {
	Hash string `json:"hash"`
	Salt string `json:"salt"`
	Code string `json:"code"`
}

// CheckPhoneCode compares a code with its hash. The hash is keyed with
// DUNNING_CODE_SECRET as well as the salt, and only activities know the
// secret: someone reading workflow history cannot try all million codes
// against the hash while the code is still valid.
func (a *Activities) CheckPhoneCode(_ context.Context, c CodeCheck) (bool, error) {
	return risk.CheckCode(c.Hash, a.CodeSecret+c.Salt, c.Code), nil
}

// smsText is a notice shortened for a text message: its subject line and
// the payment reference.
func smsText(subject, reference, from string) string {
	text := subject
	if reference != "" && !strings.Contains(subject, reference) {
		text += " (ref " + reference + ")"
	}
	if from != "" {
		text += " - " + from
	}
	return text
}

// sendSMS sends a notice by SMS and classifies failures like mail ones.
func (a *Activities) sendSMS(ctx context.Context, to, text string) error {
	err := a.SMS.SendSMS(ctx, to, text)
	var pe *providers.Error
	if err != nil && errors.As(err, &pe) && !pe.Retryable {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrEmailRefused, err)
	}
	return err
}
