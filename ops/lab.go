package ops

import (
	"context"
	"errors"
	"time"

	"github.com/example/dunning/internal/bounded"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/lab"
	"github.com/example/dunning/lab/pgsource"
	"github.com/example/dunning/policy"
)

// Policy is a published policy by ID ("strict.v1") or name (its latest
// version); an unknown one is invalid input.
func (o *Ops) Policy(id string) (policy.Policy, error) {
	reg, err := setup.Policies(o.cfg)
	if err != nil {
		return policy.Policy{}, err // configuration, not the caller's input
	}
	p, err := reg.Get(id)
	if err != nil {
		return policy.Policy{}, Invalid(err)
	}
	return p, nil
}

// ExecutionRunning is ListedCustomer.ExecutionStatus of a workflow that is
// still running (and so takes updates).
const ExecutionRunning = "running"

// DefaultSimulationWindow is how far back a simulation looks for
// customers by default.
const DefaultSimulationWindow = 180 * 24 * time.Hour

// Simulate runs the policy lab over the recorded customers the query
// selects, under pol. It reads one read-only snapshot of PostgreSQL and
// writes nothing; the read gives up at the ops timeout.
func (o *Ops) Simulate(ctx context.Context, pol policy.Policy, q lab.Query) (lab.Report, error) {
	if err := q.Validate(); err != nil {
		return lab.Report{}, Invalid(err)
	}
	ctx, cancel, _ := o.withTimeout(ctx)
	defer cancel()
	st, err := o.db(ctx)
	if err != nil {
		return lab.Report{}, err
	}
	rep, err := lab.Simulate(ctx, boundedSource{pgsource.Source{DB: st.DB()}}, pol, q)
	switch {
	case errors.Is(err, lab.ErrUnknownCustomer):
		return lab.Report{}, notFound("%v", err)
	case err != nil:
		return lab.Report{}, dbError(err)
	}
	return rep, nil
}

// boundedSource gives up on a silent database at the context's end.
type boundedSource struct{ src lab.Source }

func (b boundedSource) Histories(ctx context.Context, q lab.Query) ([]lab.History, error) {
	return bounded.Run(ctx, func(ctx context.Context) ([]lab.History, error) { return b.src.Histories(ctx, q) })
}

// PolicyLint is a valid policy file's lint result.
type PolicyLint struct {
	File     string           `json:"file"`
	Policy   string           `json:"policy"`
	Warnings []policy.Warning `json:"warnings"`
}

// LintPolicy checks a policy file as the worker would load it (an invalid
// file is invalid input naming the file and field) and lists its
// warnings, including a published ID reused with other settings.
func (o *Ops) LintPolicy(fileName string, data []byte) (PolicyLint, error) {
	p, ws, err := policy.Lint(fileName, data)
	if err != nil {
		return PolicyLint{}, Invalid(err)
	}
	reg, err := setup.Policies(o.cfg)
	if err != nil {
		return PolicyLint{}, err
	}
	ws = append(ws, policy.PublishedWarnings(fileName, p, reg)...)
	if ws == nil {
		ws = []policy.Warning{}
	}
	return PolicyLint{File: fileName, Policy: p.ID(), Warnings: ws}, nil
}
