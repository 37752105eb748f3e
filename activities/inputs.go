package activities

import (
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/mail"
	"github.com/example/dunning/store"
)

// What the workflow hands to activities travels through history, so these
// inputs are this package's own types with their JSON names fixed here.
// They are converted to the store's rows and the mailer's types at the
// activity boundary: renaming a database column or a mailer field never
// changes a recorded payload. The JSON names are the ones earlier versions
// recorded (Go field names for the types that had no tags), so an activity
// scheduled before an upgrade still decodes after it.

// CustomerRow is the customer's current figures, as Record writes them to
// the customers row.
type CustomerRow struct {
	CustomerID       string    `json:"CustomerID"`
	Name             string    `json:"Name"`
	Email            string    `json:"Email"`
	Phone            string    `json:"Phone"`
	Country          string    `json:"Country"`
	Currency         string    `json:"Currency"`
	Locale           string    `json:"Locale"`
	Policy           string    `json:"Policy"`
	MonthlyFeeMinor  int64     `json:"MonthlyFeeMinor"`
	InstrumentType   string    `json:"InstrumentType"`
	CardBIN          string    `json:"CardBIN"`
	SignupIP         string    `json:"SignupIP"`
	RiskTier         string    `json:"RiskTier"`
	Status           string    `json:"Status"`
	Access           string    `json:"Access"`
	BalanceMinor     int64     `json:"BalanceMinor"`
	CreditMinor      int64     `json:"CreditMinor"`
	OverdueMinor     int64     `json:"OverdueMinor"`
	DunningStage     string    `json:"DunningStage"`
	CreatedAt        time.Time `json:"CreatedAt"`
	UpdatedAt        time.Time `json:"UpdatedAt"`
	EventSeq         int64     `json:"EventSeq"`
	ScreeningOutcome string    `json:"ScreeningOutcome"`
	ScreeningScore   int       `json:"ScreeningScore"`
	PhoneVerified    bool      `json:"PhoneVerified"`
	// FirstRunID identifies the workflow run chain that owns the customer
	// ID; empty for runs from before it was recorded.
	FirstRunID string `json:"first_run_id,omitempty"`
}

// CustomerSnapshot is the account's customers row as of now.
func CustomerSnapshot(a *account.Account, now time.Time) CustomerRow {
	app := a.Customer
	c := CustomerRow{
		CustomerID: app.CustomerID, Name: app.Name, Email: app.Email, Phone: app.Phone,
		Country: app.Country, Currency: app.Currency, Locale: app.Locale, Policy: a.Policy.ID(),
		MonthlyFeeMinor: app.Plan.MonthlyFeeMinor, InstrumentType: string(app.PaymentInstrument.Type),
		CardBIN: app.PaymentInstrument.CardBIN, SignupIP: app.SignupIP, RiskTier: a.RiskTier,
		Status: string(a.Status), Access: string(a.Access), BalanceMinor: a.Balance(), CreditMinor: a.CreditMinor,
		OverdueMinor: a.OverdueMinor(now), DunningStage: a.DunningStage(),
		CreatedAt: a.StartedAt, UpdatedAt: now, EventSeq: int64(a.EventSeq), PhoneVerified: a.PhoneVerified,
	}
	if s := a.Screening; s != nil {
		c.ScreeningOutcome, c.ScreeningScore = string(s.Outcome), s.Score
	}
	return c
}

// Row is the store's customers row.
func (c CustomerRow) Row() store.Customer {
	return store.Customer{
		CustomerID: c.CustomerID, Name: c.Name, Email: c.Email, Phone: c.Phone, Country: c.Country,
		Currency: c.Currency, Locale: c.Locale, Policy: c.Policy, MonthlyFeeMinor: c.MonthlyFeeMinor,
		InstrumentType: c.InstrumentType, CardBIN: c.CardBIN, SignupIP: c.SignupIP, RiskTier: c.RiskTier,
		Status: c.Status, Access: c.Access, BalanceMinor: c.BalanceMinor, CreditMinor: c.CreditMinor,
		OverdueMinor: c.OverdueMinor, DunningStage: c.DunningStage, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		EventSeq: c.EventSeq, ScreeningOutcome: c.ScreeningOutcome, ScreeningScore: c.ScreeningScore,
		PhoneVerified: c.PhoneVerified, FirstRunID: c.FirstRunID,
	}
}

// Recipient is who a notice goes to.
type Recipient struct {
	CustomerID string `json:"CustomerID"`
	Name       string `json:"Name"`
	Email      string `json:"Email"`
	Locale     string `json:"Locale"`
}

// RecipientOf is the customer of an application as a notice's recipient.
func RecipientOf(app account.Application) Recipient {
	return Recipient{CustomerID: app.CustomerID, Name: app.Name, Email: app.Email, Locale: app.Locale}
}

func (r Recipient) mail() mail.Recipient {
	return mail.Recipient{CustomerID: r.CustomerID, Name: r.Name, Email: r.Email, Locale: r.Locale}
}

// RestoredPayment is a payment Resync re-records from what the workflow
// remembers: its amount and currency.
type RestoredPayment struct {
	PaymentID   string `json:"payment_id"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

func restoredRows(ps []RestoredPayment) []store.ReconciledPayment {
	out := make([]store.ReconciledPayment, len(ps))
	for i, p := range ps {
		out[i] = store.ReconciledPayment{PaymentID: p.PaymentID, AmountMinor: p.AmountMinor, Currency: p.Currency}
	}
	return out
}
