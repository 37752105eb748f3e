package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/policy"
)

// simulateCall is what the fake records of a simulation: the request as
// the handler resolved it.
type simulateCall struct {
	Policy    string   `json:"policy"`
	Customers []string `json:"customers"`
	Since     string   `json:"since"`
}

func (f *fakeOps) LintPolicy(fileName string, data []byte) (ops.PolicyLint, error) {
	if err := f.record(call{op: "LintPolicy", arg: json.RawMessage(data)}); err != nil {
		return ops.PolicyLint{}, err
	}
	p, ws, err := policy.Lint(fileName, data)
	if err != nil {
		return ops.PolicyLint{}, ops.Invalid(err)
	}
	if ws == nil {
		ws = []policy.Warning{}
	}
	return ops.PolicyLint{File: fileName, Policy: p.ID(), Warnings: ws}, nil
}

// Policy looks a policy up without recording a call: it stands for
// reading the configuration, not the backend.
func (f *fakeOps) Policy(id string) (policy.Policy, error) {
	reg, err := policy.Embedded()
	if err != nil {
		return policy.Policy{}, err
	}
	p, err := reg.Get(id)
	if err != nil {
		return policy.Policy{}, ops.Invalid(err)
	}
	return p, nil
}

// Simulate answers with a real simulation of one small recorded history.
func (f *fakeOps) Simulate(_ context.Context, pol policy.Policy, q lab.Query) (lab.Report, error) {
	if err := f.record(call{op: "Simulate", arg: simulateCall{Policy: pol.ID(), Customers: q.CustomerIDs, Since: q.Since.Format(time.RFC3339)}}); err != nil {
		return lab.Report{}, err
	}
	start := q.AsOf.AddDate(0, -2, 0)
	h := lab.History{
		Customer: account.Application{CustomerID: "acme", Name: "Acme Ltd", Email: "billing@acme.test", Phone: "+14155550100", Country: "US",
			Currency: "USD", Locale: "en", Policy: "standard.v1", Plan: account.Plan{MonthlyFeeMinor: 10000},
			PaymentInstrument: account.PaymentInstrument{Type: account.InstrumentBankTransfer}, SignupIP: "203.0.113.7"},
		StartedAt: start, Approval: &lab.Approval{At: start},
	}
	res := lab.Compare(h, pol, q.AsOf)
	return lab.Report{Policy: pol.ID(), AsOf: q.AsOf, Since: q.Since, Customers: []lab.CustomerResult{res},
		Totals: lab.TotalsOf([]lab.CustomerResult{res})}, nil
}

// lintBody is a valid policy file with one warning.
const lintBody = `{"name":"candidate","version":1,"day":"24h","billing":{"interval":"1mo","terms":"14d"},
"prepayment":{"periods":1,"reminder_after":"3d","deadline":"7d"},"trust":{"on_time_invoices":1},"promise":{"max_length":"30d"},
"ladder":[{"stage":"due","offset":"0d","action":"notice"},{"stage":"final_notice","offset":"18d","action":"notice"},
{"stage":"suspended","offset":"21d","action":"suspend"},{"stage":"terminated","offset":"60d","action":"terminate"}]}`
