package risk

import (
	"fmt"
	"strings"

	"github.com/example/dunning/account"
)

var outcomeRank = map[account.Outcome]int{account.OutcomeApprove: 0, account.OutcomeApprovePrepayment: 1, account.OutcomeReview: 2, account.OutcomeReject: 3}

// Tier is a risk tier. Decisions are low, medium or high; countries may
// also be blocked.
type Tier string

// Tiers.
const (
	TierLow     Tier = "low"
	TierMedium  Tier = "medium"
	TierHigh    Tier = "high"
	TierBlocked Tier = "blocked" // countries only
)

// Reason is one rule's contribution to a decision. A Hard reason forces at
// least the outcome in Forces, whatever the score.
type Reason struct {
	Rule   string          `json:"rule"`
	Detail string          `json:"detail"`
	Points int             `json:"points"`
	Hard   bool            `json:"hard,omitempty"`
	Forces account.Outcome `json:"forces,omitempty"`
}

// Decision is the explainable result of screening.
type Decision struct {
	Outcome       account.Outcome `json:"outcome"`
	Tier          Tier            `json:"tier"`
	Score         int             `json:"score"`
	Reasons       []Reason        `json:"reasons"`
	ConfigVersion int             `json:"config_version"`
}

// StrictPolicy is the dunning policy for high-tier customers.
const StrictPolicy = "strict"

// Policy picks the dunning policy: the strict one for the high tier, else
// the one the customer asked for.
func (d Decision) Policy(requested string) string {
	if d.Tier == TierHigh {
		return StrictPolicy
	}
	return requested
}

// Summary is a one-line account of the decision for audit logs and review
// queues: the outcome and every reason that scored or forced something.
func (d Decision) Summary() string {
	var parts []string
	for _, r := range d.Reasons {
		switch {
		case r.Hard:
			parts = append(parts, fmt.Sprintf("%s (forces %s): %s", r.Rule, r.Forces, r.Detail))
		case r.Points != 0:
			parts = append(parts, fmt.Sprintf("%s (%+d): %s", r.Rule, r.Points, r.Detail))
		}
	}
	s := fmt.Sprintf("%s (tier %s, score %d)", d.Outcome, d.Tier, d.Score)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, "; ")
	}
	return s
}

// decide turns the reasons into a decision: the score picks an outcome, a
// hard reason can only make it more severe, and the outcome picks the tier.
func decide(reasons []Reason, cfg Config) Decision {
	score := 0
	for _, r := range reasons {
		score += r.Points
	}
	out := cfg.Score.outcome(score)
	for _, r := range reasons {
		if r.Hard && outcomeRank[r.Forces] > outcomeRank[out] {
			out = r.Forces
		}
	}
	tier := TierLow
	switch out {
	case account.OutcomeApprovePrepayment:
		tier = TierMedium
	case account.OutcomeReview, account.OutcomeReject:
		tier = TierHigh
	}
	return Decision{Outcome: out, Tier: tier, Score: score, Reasons: reasons, ConfigVersion: cfg.Version}
}
