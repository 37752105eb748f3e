package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/dunning/account"
	"github.com/example/dunning/lab"
)

// The policy lab on the real worker: a running customer moved to another
// policy with the starter (audited, in PostgreSQL, its next invoice under
// the new terms, a second move refused), the simulation read from the
// worker's database through the starter and the API (a viewer may), and
// the customer's histories replay.
func TestPolicyLabChangeAndSimulate(t *testing.T) {
	t.Parallel()
	app := application("pl-move", "e2e.v1")
	id := app.CustomerID
	onboardActive(t, app)
	eventually(t, 20*time.Second, "the account active", func() bool { return status(t, id).Status == account.StatusActive })

	out, code := starter(t, "policy", "change", id, "--to", "e2estrict.v1", "--dry-run")
	if code != 2 || !strings.Contains(out, "reason is required") {
		t.Fatalf("change without a reason: %d %s", code, out)
	}
	out, code = starter(t, "policy", "change", id, "--to", "e2estrict.v1", "--reason", "moved to the high-risk tier", "--dry-run")
	if code != 0 || !strings.Contains(out, "1 customers would move") || status(t, id).Policy != "e2e.v1" {
		t.Fatalf("dry run: %d %s", code, out)
	}
	out, code = starter(t, "policy", "change", id, "--to", "e2estrict.v1", "--reason", "moved to the high-risk tier")
	if code != 0 || !strings.Contains(out, id+": moved to e2estrict.v1") {
		t.Fatalf("change: %d %s", code, out)
	}
	if v := status(t, id); v.Policy != "e2estrict.v1" {
		t.Errorf("policy after the change = %s", v.Policy)
	}
	var row struct {
		Actor, Reason string
		Detail        []byte
	}
	if err := env.db.Get(&row, `SELECT actor, reason, detail FROM audit_log WHERE customer_id = $1 AND action = $2`, id, account.EventPolicyChanged); err != nil ||
		row.Actor != "e2e-staff" || row.Reason != "moved to the high-risk tier" || !strings.Contains(string(row.Detail), `"policy_to": "e2estrict.v1"`) {
		t.Errorf("audit row = %+v %s %v", row, row.Detail, err)
	}
	var pol string
	if err := env.db.Get(&pol, `SELECT policy FROM customers WHERE customer_id = $1`, id); err != nil || pol != "e2estrict.v1" {
		t.Errorf("customers.policy = %q %v", pol, err)
	}
	out, code = starter(t, "policy", "change", id, "--to", "e2estrict.v1", "--reason", "again")
	if code != 1 || !strings.Contains(out, "already on policy e2estrict.v1") {
		t.Errorf("second change: %d %s", code, out)
	}

	// The next invoice is issued under the new policy's terms (3.5 s).
	var inv account.InvoiceView
	eventually(t, 40*time.Second, "the first invoice", func() bool {
		for _, i := range status(t, id).Invoices {
			if i.Kind == account.KindSubscription {
				inv = i
				return true
			}
		}
		return false
	})
	if terms := inv.DueAt.Sub(inv.IssuedAt); terms != 3500*time.Millisecond {
		t.Errorf("invoice terms = %s, want e2estrict's 3.5s", terms)
	}

	out, code = starter(t, "policy", "simulate", "--policy", "e2e.v1", "--customers", id, "--json")
	var rep lab.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || len(rep.Customers) != 1 || rep.Customers[0].RecordedPolicy != "e2estrict.v1" {
		t.Fatalf("simulate: %d %v %s", code, err, out)
	}
	if out, code := starter(t, "policy", "simulate", "--policy", "e2e.v1", "--customers", id+",nobody"); code != 1 || !strings.Contains(out, `unknown customer "nobody"`) {
		t.Errorf("simulate an unknown customer: %d %s", code, out)
	}
	var viaAPI lab.Report
	if code, body := call(t, viewerToken, "POST", "/v1/policies/simulate", map[string]any{"policy": "e2e.v1", "customers": []string{id}}, &viaAPI); code != http.StatusOK ||
		len(viaAPI.Customers) != 1 {
		t.Errorf("simulate through the API as a viewer: %d %s", code, body)
	}
	if code, body := call(t, viewerToken, "POST", "/v1/customers/"+id+"/policy", map[string]any{"to": "e2e.v1", "reason": "back"}, nil); code != http.StatusForbidden {
		t.Errorf("a viewer moving a customer: %d %s", code, body)
	}
	checkReplay(t, id)
}
