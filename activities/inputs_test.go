package activities

import (
	"encoding/json"
	"testing"

	"github.com/example/dunning/account"
	"github.com/example/dunning/policy"
)

// The inputs' JSON is what histories recorded before these types had tags
// of their own: a payload recorded then still decodes whole.
func TestInputsDecodeRecordedPayloads(t *testing.T) {
	var rec RecordInput
	if err := json.Unmarshal([]byte(`{"Customer":{"CustomerID":"acme","Name":"Acme Ltd","Status":"active","EventSeq":7,`+
		`"ScreeningOutcome":"approve","first_run_id":"run-1"},"Events":[{"key":"acme/7","type":"invoice.issued"}]}`), &rec); err != nil {
		t.Fatal(err)
	}
	if c := rec.Customer; c.CustomerID != "acme" || c.Name != "Acme Ltd" || c.Status != "active" || c.EventSeq != 7 ||
		c.ScreeningOutcome != string(account.OutcomeApprove) || c.FirstRunID != "run-1" || len(rec.Events) != 1 || rec.Events[0].Key != "acme/7" {
		t.Errorf("RecordInput = %+v", rec)
	}
	var n NoticeInput
	if err := json.Unmarshal([]byte(`{"Recipient":{"CustomerID":"acme","Name":"Acme Ltd","Email":"a@acme.test","Locale":"ko"},`+
		`"Notice":{"key":"k1","template":"overdue_1"},"channel":"sms","phone":"+14155550100"}`), &n); err != nil {
		t.Fatal(err)
	}
	if r := n.Recipient; r.CustomerID != "acme" || r.Email != "a@acme.test" || r.Locale != account.LocaleKorean || n.Notice.Key != "k1" || n.Channel != policy.ChannelSMS || n.Phone == "" {
		t.Errorf("NoticeInput = %+v", n)
	}
}
