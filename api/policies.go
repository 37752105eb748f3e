package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"

	"github.com/example/dunning/lab"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/policy"
)

// Lab is the policy lab; *ops.Ops implements it.
type Lab interface {
	LintPolicy(fileName string, data []byte) (ops.PolicyLint, error)
	Policy(id string) (policy.Policy, error)
	Simulate(ctx context.Context, pol policy.Policy, q lab.Query) (lab.Report, error)
}

var errNoLab = &apiError{http.StatusServiceUnavailable, "unavailable", "the policy lab is not configured on this server"}

// viewerPosts are the POST routes viewers may use: they change nothing.
var viewerPosts = map[string]bool{
	"POST /v1/policies/lint":     true,
	"POST /v1/policies/simulate": true,
}

var simulationFormats = reportFormats(
	func(w io.Writer, r lab.Report) error { return json.NewEncoder(w).Encode(r) }, lab.WriteCSV, lab.WriteText)

// policyFileName is the name a policy file in a request body is linted
// under: ?file=, else <name>.v<version>.json from the body.
var policyFileName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}\.v[0-9]{1,6}\.json$`)

// lintPolicy answers POST /v1/policies/lint[?file=NAME] with the policy
// file as the body.
func (s *server) lintPolicy(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "file")
	if err != nil {
		return err
	}
	if s.lab == nil {
		return errNoLab
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return s.bodyError(err)
	}
	name := q.Get("file")
	if name == "" {
		name = fileNameOf(body)
	}
	if !policyFileName.MatchString(name) {
		return invalid(fmt.Errorf("file %q must look like <name>.v<version>.json (give ?file= or a name and version in the body)", name))
	}
	res, err := s.lab.LintPolicy(name, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// SimulateRequest is the body of POST /v1/policies/simulate: a published
// policy, or a candidate policy file not yet published.
type SimulateRequest struct {
	Policy     string          `json:"policy,omitempty"`      // a published policy ID
	PolicyFile json.RawMessage `json:"policy_file,omitempty"` // or a policy file's JSON
	Customers  []string        `json:"customers,omitempty"`   // default: every customer with records since Since
	Since      string          `json:"since,omitempty"`       // a duration before now (180d) or a time; default 180d
}

// simulate answers POST /v1/policies/simulate?format=json|csv|text.
func (s *server) simulate(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "format")
	if err != nil {
		return err
	}
	out, err := pickFormat(q, simulationFormats)
	if err != nil {
		return err
	}
	var req SimulateRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if (req.Policy == "") == (len(req.PolicyFile) == 0) {
		return invalid(fmt.Errorf("give policy (a policy ID like strict.v1) or policy_file (a policy file's JSON), one of them"))
	}
	now := s.now().UTC()
	since := now.Add(-ops.DefaultSimulationWindow)
	if req.Since != "" {
		if since, err = ops.ParseTimeOrAgo(req.Since, now); err != nil {
			return invalid(fmt.Errorf("since: %v", err))
		}
	}
	lq := lab.Query{CustomerIDs: req.Customers, Since: since, AsOf: now}
	if err := lq.Validate(); err != nil {
		return invalid(err)
	}
	if s.lab == nil {
		return errNoLab
	}
	var pol policy.Policy
	if req.Policy != "" {
		pol, err = s.lab.Policy(req.Policy)
	} else {
		pol, err = parsePolicyFile(req.PolicyFile)
	}
	if err != nil {
		return err
	}
	rep, err := s.lab.Simulate(r.Context(), pol, lq)
	if err != nil {
		return err
	}
	return writeReport(w, out, rep)
}

// fileNameOf is the file name a policy file's JSON names itself by:
// <name>.v<version>.json.
func fileNameOf(data []byte) string {
	var id struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	}
	_ = json.Unmarshal(data, &id) // a body that is not JSON is reported when it is parsed
	return fmt.Sprintf("%s.v%d.json", id.Name, id.Version)
}

// parsePolicyFile reads a candidate policy file from a request, with the
// file and field of what is wrong.
func parsePolicyFile(data []byte) (policy.Policy, error) {
	name := fileNameOf(data)
	if !policyFileName.MatchString(name) {
		return policy.Policy{}, invalid(fmt.Errorf("policy_file: name and version must make a file name like standard.v3.json, not %q", name))
	}
	p, err := policy.Parse(name, data)
	if err != nil {
		return policy.Policy{}, invalid(err)
	}
	return p, nil
}
