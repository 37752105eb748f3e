// Package policy holds the dunning and billing policies as data: the reminder
// ladder, billing interval, prepayment and trust rules. Policies are versioned
// JSON files embedded in the binary; a customer keeps the version it started
// with, so publishing a new version never changes a running customer.
package policy

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Action is what a ladder step does besides being recorded.
type Action string

const (
	ActionNotice    Action = "notice"    // email the customer
	ActionSuspend   Action = "suspend"   // suspend subscriptions for non-payment, and notify
	ActionTerminate Action = "terminate" // terminate, write off, hand off to collections, and notify
)

// Policy is a compiled, validated policy.
type Policy struct {
	Name        string        `json:"name"`
	Version     int           `json:"version"`
	Description string        `json:"description"`
	Day         time.Duration `json:"day"` // length of a day for days-past-due and aging
	Billing     Billing       `json:"billing"`
	Prepayment  Prepayment    `json:"prepayment"`
	Trust       Trust         `json:"trust"`
	Promise     Promise       `json:"promise"`
	Reviews     Reviews       `json:"reviews"`
	Channels    []Channel     `json:"channels"` // notice channels in order of preference
	Ladder      []Step        `json:"ladder"`
	// Provisioning is optional in a file; ProvisioningRules fills it in.
	Provisioning Provisioning `json:"provisioning,omitzero"`
	// Collection is how a card on file is charged; a policy without it
	// (every v1 policy) never charges automatically.
	Collection *Collection `json:"collection,omitempty"`
	// SuspendScope is what non-payment suspends. Files without it (every
	// version before the field) suspend the whole account, as they always
	// did.
	SuspendScope SuspendScope `json:"suspend_scope,omitempty"`
}

// SuspendScope is what the ladder's suspend step suspends.
type SuspendScope string

// Suspend scopes.
const (
	// ScopeAccount suspends every subscription of the account.
	ScopeAccount SuspendScope = "account"
	// ScopeUnpaidSubscriptions suspends only the subscriptions billed on
	// the unpaid invoice; one paid through a later date keeps running.
	ScopeUnpaidSubscriptions SuspendScope = "unpaid_subscriptions"
)

// Scope is the policy's suspend scope, account when the file has none.
func (p Policy) Scope() SuspendScope {
	if p.SuspendScope == "" {
		return ScopeAccount
	}
	return p.SuspendScope
}

// Provisioning says how a suspension, reinstatement or termination that the
// provisioning system refuses or does not answer is retried and escalated.
type Provisioning struct {
	AttemptFor    time.Duration `json:"attempt_for"`    // one round of tries with backoff
	RetryEvery    time.Duration `json:"retry_every"`    // a failed round is tried again after this
	EscalateAfter time.Duration `json:"escalate_after"` // failing this long: staff are asked to act by hand
}

// ProvisioningRules are the policy's provisioning rules, or defaults scaled
// to the policy's day (an hour of tries, a new round every quarter day,
// escalation after a day), never shorter than the floors below, so that the
// demo policy's two-second day still leaves the provisioning system time
// to answer.
func (p Policy) ProvisioningRules() Provisioning {
	r := p.Provisioning
	day := p.Day
	if day <= 0 {
		day = 24 * time.Hour
	}
	if r.AttemptFor <= 0 {
		r.AttemptFor = max(day/24, 30*time.Second)
	}
	if r.RetryEvery <= 0 {
		r.RetryEvery = max(day/4, 10*time.Second)
	}
	if r.EscalateAfter <= 0 {
		r.EscalateAfter = max(day, time.Minute)
	}
	return r
}

// Reviews sets how long staff have to decide a review, by kind and
// severity, and when they are reminded.
type Reviews struct {
	Onboarding time.Duration `json:"onboarding"` // undecided by then: the application is rejected
	Severe     time.Duration `json:"severe"`     // misuse reviews by severity: undecided by then,
	Moderate   time.Duration `json:"moderate"`   // the account is suspended for misuse
	Minor      time.Duration `json:"minor"`
	// Reminders are fractions of the time allowed at which staff are
	// reminded, e.g. 0.5 and 0.8.
	Reminders []float64 `json:"reminders"`
}

// ReviewRules are the policy's review rules, or the defaults for policies
// recorded before reviews were part of a policy (a running customer keeps
// the snapshot it started with).
func (p Policy) ReviewRules() Reviews {
	if p.Reviews.Onboarding == 0 {
		return defaultReviews
	}
	return p.Reviews
}

// NoticeChannels are the channels in order of preference; snapshots from
// before channels were data use email only.
func (p Policy) NoticeChannels() []Channel {
	if len(p.Channels) == 0 {
		return []Channel{ChannelEmail}
	}
	return p.Channels
}

// defaultReviews apply to policy files written before reviews were data.
var defaultReviews = Reviews{Onboarding: 48 * time.Hour, Severe: 4 * time.Hour, Moderate: 48 * time.Hour,
	Minor: 7 * 24 * time.Hour, Reminders: []float64{0.5, 0.8}}

// Channel is how a notice reaches the customer.
type Channel string

// Notice channels. ChannelNone is what is left once every channel of the
// policy has failed.
const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
	ChannelNone  Channel = "none"
)

// Billing says how often invoices are issued and when they fall due.
type Billing struct {
	Interval Interval      `json:"interval"`
	Terms    time.Duration `json:"terms"` // due date = issue time + terms
}

// Prepayment is the reserve asked for before any service is provisioned.
type Prepayment struct {
	Periods       int           `json:"periods"`        // how many billing periods' fees
	ReminderAfter time.Duration `json:"reminder_after"` // one reminder if still unpaid
	Deadline      time.Duration `json:"deadline"`       // application cancelled when unpaid by then
}

// Trust is the rule that lifts a new account from limited to full access.
type Trust struct {
	OnTimeInvoices       int  `json:"on_time_invoices"`
	RequirePhoneVerified bool `json:"require_phone_verified"`
}

// Promise bounds promise-to-pay arrangements.
type Promise struct {
	MaxLength time.Duration `json:"max_length"`
}

// Step is one rung of the dunning ladder, relative to the invoice due date.
type Step struct {
	Stage    string        `json:"stage"`
	Offset   time.Duration `json:"offset"`
	Action   Action        `json:"action"`
	Template string        `json:"template"`
}

// ID names the policy and version, e.g. "standard.v1".
func (p Policy) ID() string { return fmt.Sprintf("%s.v%d", p.Name, p.Version) }

// StepIndex returns the index of the first step with the action, or -1.
func (p Policy) StepIndex(a Action) int {
	for i, s := range p.Ladder {
		if s.Action == a {
			return i
		}
	}
	return -1
}

// Days converts a duration to whole policy days (rounded down).
func (p Policy) Days(d time.Duration) int {
	if p.Day <= 0 || d <= 0 {
		return 0
	}
	return int(d / p.Day)
}

// file is the JSON form, with durations as strings so that errors can name
// the field that is wrong.
type file struct {
	Name        string `json:"name"`
	Version     int    `json:"version"`
	Description string `json:"description"`
	Day         string `json:"day"`
	Billing     struct {
		Interval string `json:"interval"`
		Terms    string `json:"terms"`
	} `json:"billing"`
	Prepayment struct {
		Periods       int    `json:"periods"`
		ReminderAfter string `json:"reminder_after"`
		Deadline      string `json:"deadline"`
	} `json:"prepayment"`
	Trust struct {
		OnTimeInvoices       int  `json:"on_time_invoices"`
		RequirePhoneVerified bool `json:"require_phone_verified"`
	} `json:"trust"`
	Promise struct {
		MaxLength string `json:"max_length"`
	} `json:"promise"`
	Reviews *struct {
		Onboarding string    `json:"onboarding"`
		Severe     string    `json:"severe"`
		Moderate   string    `json:"moderate"`
		Minor      string    `json:"minor"`
		Reminders  []float64 `json:"reminders"`
	} `json:"reviews"`
	Channels     []Channel `json:"channels"`
	Provisioning *struct {
		AttemptFor    string `json:"attempt_for"`
		RetryEvery    string `json:"retry_every"`
		EscalateAfter string `json:"escalate_after"`
	} `json:"provisioning"`
	Collection   *collectionFile `json:"collection"`
	SuspendScope SuspendScope    `json:"suspend_scope"`
	Ladder       []struct {
		Stage    string `json:"stage"`
		Offset   string `json:"offset"`
		Action   string `json:"action"`
		Template string `json:"template"`
	} `json:"ladder"`
}

var (
	namePattern  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)
	stagePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	filePattern  = regexp.MustCompile(`^([a-z][a-z0-9_-]*)\.v([0-9]+)\.json$`)
)

// FieldError names the policy file and field that failed validation.
type FieldError struct {
	File, Field, Problem string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("policy file %s: %s", e.File, e.Problem)
	}
	return fmt.Sprintf("policy file %s: field %s: %s", e.File, e.Field, e.Problem)
}

// Parse validates one policy file's contents. The file name must be
// "<name>.v<version>.json" and agree with the name and version inside.
func Parse(fileName string, data []byte) (Policy, error) {
	fail := func(field, format string, args ...any) (Policy, error) {
		return Policy{}, &FieldError{File: fileName, Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fail(te.Field, "has type %s, want %s", te.Value, te.Type)
		}
		return fail("", "not valid policy JSON: %v", err)
	}
	m := filePattern.FindStringSubmatch(path.Base(fileName))
	if m == nil {
		return fail("", "file name must look like <name>.v<version>.json")
	}
	if !namePattern.MatchString(f.Name) {
		return fail("name", "%q must be lower-case letters, digits, '-' or '_'", f.Name)
	}
	if f.Name != m[1] {
		return fail("name", "%q does not match the file name %q", f.Name, m[1])
	}
	if v, _ := strconv.Atoi(m[2]); f.Version < 1 || f.Version != v {
		return fail("version", "%d does not match the file name's version %s (versions start at 1)", f.Version, m[2])
	}
	p := Policy{Name: f.Name, Version: f.Version, Description: strings.TrimSpace(f.Description)}

	positive := func(field, s string) (time.Duration, error) {
		d, err := ParseDuration(s)
		if err != nil {
			return 0, &FieldError{File: fileName, Field: field, Problem: err.Error()}
		}
		if d <= 0 {
			return 0, &FieldError{File: fileName, Field: field, Problem: fmt.Sprintf("%q must be positive", s)}
		}
		return d, nil
	}
	var err error
	if p.Day, err = positive("day", f.Day); err != nil {
		return Policy{}, err
	}
	if p.Billing.Interval, err = ParseInterval(f.Billing.Interval); err != nil {
		return fail("billing.interval", "%v", err)
	}
	if p.Billing.Terms, err = positive("billing.terms", f.Billing.Terms); err != nil {
		return Policy{}, err
	}
	if f.Prepayment.Periods < 1 || f.Prepayment.Periods > 12 {
		return fail("prepayment.periods", "%d must be between 1 and 12", f.Prepayment.Periods)
	}
	p.Prepayment.Periods = f.Prepayment.Periods
	if p.Prepayment.ReminderAfter, err = positive("prepayment.reminder_after", f.Prepayment.ReminderAfter); err != nil {
		return Policy{}, err
	}
	if p.Prepayment.Deadline, err = positive("prepayment.deadline", f.Prepayment.Deadline); err != nil {
		return Policy{}, err
	}
	if p.Prepayment.ReminderAfter >= p.Prepayment.Deadline {
		return fail("prepayment.reminder_after", "must come before prepayment.deadline")
	}
	if f.Trust.OnTimeInvoices < 0 || f.Trust.OnTimeInvoices > 24 {
		return fail("trust.on_time_invoices", "%d must be between 0 and 24", f.Trust.OnTimeInvoices)
	}
	p.Trust = Trust{OnTimeInvoices: f.Trust.OnTimeInvoices, RequirePhoneVerified: f.Trust.RequirePhoneVerified}
	if p.Promise.MaxLength, err = positive("promise.max_length", f.Promise.MaxLength); err != nil {
		return Policy{}, err
	}

	p.Reviews = defaultReviews
	if r := f.Reviews; r != nil {
		for _, d := range []struct {
			field string
			src   string
			dst   *time.Duration
		}{
			{"reviews.onboarding", r.Onboarding, &p.Reviews.Onboarding}, {"reviews.severe", r.Severe, &p.Reviews.Severe},
			{"reviews.moderate", r.Moderate, &p.Reviews.Moderate}, {"reviews.minor", r.Minor, &p.Reviews.Minor},
		} {
			if *d.dst, err = positive(d.field, d.src); err != nil {
				return Policy{}, err
			}
		}
		p.Reviews.Reminders = r.Reminders
		for i, f := range r.Reminders {
			if f <= 0 || f >= 1 || (i > 0 && f <= r.Reminders[i-1]) {
				return fail(fmt.Sprintf("reviews.reminders[%d]", i), "%v must rise, each between 0 and 1 (a fraction of the time allowed)", f)
			}
		}
	}
	if r := f.Provisioning; r != nil {
		for _, d := range []struct {
			field string
			src   string
			dst   *time.Duration
		}{
			{"provisioning.attempt_for", r.AttemptFor, &p.Provisioning.AttemptFor},
			{"provisioning.retry_every", r.RetryEvery, &p.Provisioning.RetryEvery},
			{"provisioning.escalate_after", r.EscalateAfter, &p.Provisioning.EscalateAfter},
		} {
			if *d.dst, err = positive(d.field, d.src); err != nil {
				return Policy{}, err
			}
		}
	}
	p.Channels = []Channel{ChannelEmail}
	if len(f.Channels) > 0 {
		p.Channels = nil
		for i, c := range f.Channels {
			if (c != ChannelEmail && c != ChannelSMS) || slices.Contains(p.Channels, c) {
				return fail(fmt.Sprintf("channels[%d]", i), "%q must be email or sms, each once", c)
			}
			p.Channels = append(p.Channels, c)
		}
	}

	switch f.SuspendScope {
	case "", ScopeAccount, ScopeUnpaidSubscriptions:
		p.SuspendScope = f.SuspendScope
	default:
		return fail("suspend_scope", "%q must be account or unpaid_subscriptions", f.SuspendScope)
	}
	if f.Collection != nil {
		c, ferr := parseCollection(fileName, f.Collection)
		if ferr != nil {
			return Policy{}, ferr
		}
		p.Collection = c
	}
	if len(f.Ladder) == 0 {
		return fail("ladder", "must have at least one step")
	}
	seen := map[string]bool{}
	for i, s := range f.Ladder {
		field := fmt.Sprintf("ladder[%d]", i)
		if !stagePattern.MatchString(s.Stage) {
			return fail(field+".stage", "%q must be lower-case letters, digits or '_'", s.Stage)
		}
		if seen[s.Stage] {
			return fail(field+".stage", "%q appears twice", s.Stage)
		}
		seen[s.Stage] = true
		off, err := ParseDuration(s.Offset)
		if err != nil {
			return fail(field+".offset", "%v", err)
		}
		if i > 0 && off <= p.Ladder[i-1].Offset {
			return fail(field+".offset", "%q must come after the previous step's offset", s.Offset)
		}
		if off < -p.Billing.Terms {
			return fail(field+".offset", "%q is before the invoice is issued (terms are %s)", s.Offset, f.Billing.Terms)
		}
		act := Action(s.Action)
		switch act {
		case ActionNotice, ActionSuspend, ActionTerminate:
		default:
			return fail(field+".action", "%q must be one of notice, suspend, terminate", s.Action)
		}
		if (act == ActionSuspend || act == ActionTerminate) && off <= 0 {
			return fail(field+".offset", "a %s step must come after the due date", act)
		}
		if act == ActionTerminate && i != len(f.Ladder)-1 {
			return fail(field+".action", "terminate must be the last step")
		}
		if act == ActionSuspend && p.StepIndex(ActionSuspend) >= 0 {
			return fail(field+".action", "only one suspend step is allowed")
		}
		tmpl := s.Template
		if tmpl == "" {
			tmpl = s.Stage
		}
		if !stagePattern.MatchString(tmpl) {
			return fail(field+".template", "%q must be lower-case letters, digits or '_'", tmpl)
		}
		p.Ladder = append(p.Ladder, Step{Stage: s.Stage, Offset: off, Action: act, Template: tmpl})
	}
	return p, nil
}

// Registry holds every known version of every policy. A published version
// never changes (published.sum and its test): a running customer carries only its
// policy's ID and content hash and finds the policy here again, shared with
// every other customer on it.
type Registry struct {
	byID   map[string]*Policy // "standard.v1"
	latest map[string]*Policy // "standard" -> highest version
	hashes map[string]string  // ID -> ContentHash of its file
}

// LoadFS reads every *.json file at the root of fsys.
func LoadFS(fsys fs.FS) (*Registry, error) {
	r := &Registry{byID: map[string]*Policy{}, latest: map[string]*Policy{}, hashes: map[string]string{}}
	return r, r.add(fsys)
}

// ContentHash is the hash of a policy file's bytes that customers carry.
func ContentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (r *Registry) add(fsys fs.FS) error {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return err
	}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return fmt.Errorf("policy file %s: %w", n, err)
		}
		p, err := Parse(n, data)
		if err != nil {
			return err
		}
		hash := ContentHash(data)
		if old, ok := r.hashes[p.ID()]; ok && old != hash {
			// Customers on it replay with the published content.
			return fmt.Errorf("policy file %s: %s is already published with other content; a change goes into a new version", n, p.ID())
		}
		r.byID[p.ID()] = &p
		r.hashes[p.ID()] = hash
		if cur, ok := r.latest[p.Name]; !ok || p.Version > cur.Version {
			r.latest[p.Name] = &p
		}
	}
	return nil
}

// AddFS adds the policies in fsys. A file may add a policy or a version,
// or repeat a known version byte for byte; it may not change one.
func (r *Registry) AddFS(fsys fs.FS) error { return r.add(fsys) }

// Get returns a policy by name ("standard", the latest version) or by
// versioned ID ("standard.v1").
func (r *Registry) Get(name string) (Policy, error) {
	p, _, err := r.Lookup(name)
	if err != nil {
		return Policy{}, err
	}
	return *p, nil
}

// Lookup is Get returning the registry's shared copy (never to be
// modified) and its content hash.
func (r *Registry) Lookup(name string) (*Policy, string, error) {
	p, ok := r.byID[name]
	if !ok {
		p, ok = r.latest[name]
	}
	if !ok {
		return nil, "", fmt.Errorf("unknown policy %q (known: %s)", name, strings.Join(r.Names(), ", "))
	}
	return p, r.hashes[p.ID()], nil
}

// Resolve finds the exact version a customer carries. A missing version or
// other content is an error: the worker lacks the files the customer was
// decided with, and must not go on with different ones.
func (r *Registry) Resolve(id, hash string) (*Policy, error) {
	p, ok := r.byID[id]
	if !ok {
		return nil, fmt.Errorf("policy %s is not on this worker: deploy its file (known: %s)", id, strings.Join(r.Names(), ", "))
	}
	if got := r.hashes[id]; got != hash {
		return nil, fmt.Errorf("policy %s on this worker has content hash %s, the customer's is %s: a published version was changed; restore its file and put the change in a new version", id, got, hash)
	}
	return p, nil
}

// Names lists the policy names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.latest))
	for n := range r.latest {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

//go:embed policies/*.json
var embedded embed.FS

var (
	defaultOnce sync.Once
	defaultReg  *Registry
	defaultErr  error
)

// Embedded returns the policies shipped in the binary.
func Embedded() (*Registry, error) {
	defaultOnce.Do(func() {
		sub, err := EmbeddedFS()
		if err != nil {
			defaultErr = err
			return
		}
		defaultReg, defaultErr = LoadFS(sub)
	})
	return defaultReg, defaultErr
}

// EmbeddedFS is the directory of shipped policy files.
func EmbeddedFS() (fs.FS, error) { return fs.Sub(embedded, "policies") }
