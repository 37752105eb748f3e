package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/config"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/setup"
	"github.com/example/dunning/workflows"
)

// opTally counts one kind of request by what its caller learnt and what
// PostgreSQL holds.
type opTally struct {
	Sent, Acked, Found, Lost, Duplicates, WrongAmount int
	Unknown, UnknownFound                             int
	Refused, RefusedFound                             int
	NotDurableAtAck, UncheckedAtAck                   int
}

// chaosReport is everything the final check found.
type chaosReport struct {
	Customers      int
	ByKind         map[string]int
	Faults         map[string]int
	Payments       opTally
	Usage          opTally
	Staff          opTally
	UnexpectedRows int // payments or usage in PostgreSQL that nobody sent
	Cards          cardTally

	OutboxRows, MailsSent, MailsToSendGrid, MailDuplicates, SentNotAtSendGrid, UnknownMails int
	Unconfirmed, FailedMails, Stuck, NoticesNeverQueued                                     int
	Delayed                                                                                 int // pending or sending, with a retry still scheduled

	sendsRetrying map[string]int // pending SendNotice activities by customer
	unknownOps    []string

	Drift                 int // customers whose GetStatus and customers row disagree
	ProvisioningMismatch  int // applied state differs from the decided status, not excused
	ProvisioningRefused   int // customers the webhook refused (4xx)
	ProvisioningVisible   int // of the mismatches, shown as failures
	ProvisioningOutOfOrd  int
	WorkflowStatus        map[string]int
	BadWorkflows          int // failed, terminated, timed out, cancelled
	StuckWorkflowTasks    int
	RetryingActivities    int
	ReplayFailures        int
	Reconcile             string // "no drift", "drift", or why it did not run
	ProvisioningFieldSeen bool

	problems map[string][]string
	todos    []string // what the provisioning-visibility check will judge once it is on
}

func (r *chaosReport) problem(kind, format string, args ...any) {
	r.problems[kind] = append(r.problems[kind], fmt.Sprintf(format, args...))
}

// check polls every invariant until all hold or the deadline passes, then
// reports what still fails.
func (ce *chaosEnv) check(deadline time.Time) *chaosReport {
	var rep *chaosReport
	for {
		rep = ce.collect()
		if len(rep.problems) == 0 || time.Now().After(deadline) {
			break
		}
		kinds := slices.Sorted(maps.Keys(rep.problems))
		ce.faults.note("not settled yet: %s", strings.Join(kinds, ", "))
		time.Sleep(5 * time.Second)
	}
	for _, todo := range rep.todos {
		ce.t.Logf("TODO(lead) provisioning visibility, not checked yet: %s", todo)
	}
	// Once settled: the checks that are expensive or change nothing.
	ce.checkReplay(rep)
	ce.runReconcile(rep)
	for _, kind := range slices.Sorted(maps.Keys(rep.problems)) {
		list := rep.problems[kind]
		shown := list
		if len(shown) > 15 {
			shown = shown[:15]
		}
		ce.t.Errorf("INVARIANT %s violated %d time(s):\n  %s", kind, len(list), strings.Join(shown, "\n  "))
	}
	return rep
}

func (ce *chaosEnv) collect() *chaosReport {
	rep := &chaosReport{Customers: len(ce.custs), ByKind: map[string]int{}, problems: map[string][]string{}}
	for _, c := range ce.custs {
		rep.ByKind[c.kind]++
	}
	rep.Faults = ce.faults.counts()
	ce.checkRequests(rep)
	ce.checkWorkflows(rep)
	ce.checkMail(rep)
	ce.checkCustomers(rep)
	ce.checkCards(rep)
	return rep
}

type rowKey struct{ customer, id string }

type moneyRow struct {
	Customer string `db:"customer_id"`
	ID       string `db:"id"`
	Amount   int64  `db:"amount_minor"`
	Currency string `db:"currency"`
}

func (ce *chaosEnv) rows(query string) (map[rowKey][]moneyRow, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var list []moneyRow
	if err := ce.db.SelectContext(ctx, &list, query); err != nil {
		return nil, err
	}
	out := map[rowKey][]moneyRow{}
	for _, r := range list {
		k := rowKey{r.Customer, r.ID}
		out[k] = append(out[k], r)
	}
	return out, nil
}

// checkRequests compares what callers were told with PostgreSQL.
func (ce *chaosEnv) checkRequests(rep *chaosReport) {
	// The gateway's payments (card charges, pay-now pages) are nobody's
	// request: checkCards holds them against the gateway's PaymentIntents.
	payments, err := ce.rows(`SELECT customer_id, payment_id AS id, amount_minor, currency FROM payments WHERE actor NOT IN ('gateway', 'pay-link')`)
	if err != nil {
		rep.problem("database readable", "payments: %v", err)
		return
	}
	usage, err := ce.rows(`SELECT customer_id, usage_id AS id, amount_minor, currency FROM usage_records`)
	if err != nil {
		rep.problem("database readable", "usage: %v", err)
		return
	}
	type auditRow struct {
		Customer string `db:"customer_id"`
		Action   string `db:"action"`
		Reason   string `db:"reason"`
	}
	var audit []auditRow
	if err := ce.db.Select(&audit, `SELECT customer_id, action, reason FROM audit_log WHERE actor = $1
		AND action IN ('account.suspended', 'account.reinstated', 'suspension.lifted', 'promise.made')`, chaosActor); err != nil {
		rep.problem("database readable", "audit log: %v", err)
		return
	}
	staffRows := map[rowKey]int{}
	for _, a := range audit {
		staffRows[rowKey{a.Customer, a.Reason}]++
	}
	sent := map[string]map[rowKey]bool{"payment": {}, "usage": {}}
	for _, o := range ce.ledger.all() {
		k := rowKey{o.customer, o.id}
		var tally *opTally
		var found []moneyRow
		switch o.kind {
		case "payment":
			tally, found = &rep.Payments, payments[k]
		case "usage":
			tally, found = &rep.Usage, usage[k]
		default:
			tally = &rep.Staff
			for range staffRows[k] {
				found = append(found, moneyRow{})
			}
		}
		if m, ok := sent[o.kind]; ok {
			m[k] = true
		}
		tally.Sent++
		money := o.kind == "payment" || o.kind == "usage"
		if len(found) > 1 {
			tally.Duplicates++
			rep.problem("recorded at most once", "%s %s of %s is in PostgreSQL %d times", o.kind, o.id, o.customer, len(found))
		}
		switch o.outcome() {
		case "acked":
			tally.Acked++
			switch o.durable {
			case "no":
				tally.NotDurableAtAck++
			case "":
				if money {
					tally.UncheckedAtAck++
				}
			}
			if len(found) == 0 {
				tally.Lost++
				rep.problem("acknowledged is recorded", "%s %s of %s (%d %s) was acknowledged and is not in PostgreSQL",
					o.kind, o.id, o.customer, o.amount, o.currency)
				continue
			}
			tally.Found++
			if money && (found[0].Amount != o.amount || found[0].Currency != o.currency) {
				tally.WrongAmount++
				rep.problem("right amount", "%s %s of %s: acknowledged %d %s, recorded %d %s",
					o.kind, o.id, o.customer, o.amount, o.currency, found[0].Amount, found[0].Currency)
			}
		case "unknown":
			tally.Unknown++
			rep.unknownOps = append(rep.unknownOps, fmt.Sprintf("%s %s of %s: %d attempts over %s, %d without an answer, last: %.200s",
				o.kind, o.id, o.customer, o.attempts, o.took.Round(time.Second), o.unknown, o.lastErr))
			if len(found) > 0 {
				tally.UnknownFound++
			}
		case "refused":
			tally.Refused++
			if len(found) > 0 {
				tally.RefusedFound++
				rep.problem("refused is not recorded", "%s %s of %s was refused (%s) but is in PostgreSQL", o.kind, o.id, o.customer, o.refusal)
			}
		}
	}
	for name, table := range map[string]map[rowKey][]moneyRow{"payment": payments, "usage": usage} {
		for k := range table {
			if !sent[name][k] {
				rep.UnexpectedRows++
				rep.problem("nothing recorded that nobody sent", "%s %s of %s is in PostgreSQL but was never sent", name, k.id, k.customer)
			}
		}
	}
}

// checkMail compares the outbox with what reached the fake SendGrid.
func (ce *chaosEnv) checkMail(rep *chaosReport) {
	type outboxRow struct {
		Key      string    `db:"message_key"`
		Customer string    `db:"customer_id"`
		Status   string    `db:"status"`
		Channel  string    `db:"channel"`
		Created  time.Time `db:"created_at"`
	}
	var rows []outboxRow
	if err := ce.db.Select(&rows, `SELECT message_key, customer_id, status, channel, created_at FROM email_outbox`); err != nil {
		rep.problem("database readable", "outbox: %v", err)
		return
	}
	atSendGrid := map[string]int{}
	for _, m := range ce.sg.Messages() {
		key := m.Request.CustomArgs["dunning_key"]
		for _, p := range m.Request.Personalizations {
			if k := p.CustomArgs["dunning_key"]; k != "" {
				key = k
			}
		}
		atSendGrid[key]++
	}
	rep.MailsToSendGrid = len(ce.sg.Messages())
	inOutbox := map[string]bool{}
	for _, r := range rows {
		rep.OutboxRows++
		inOutbox[r.Key] = true
		n := atSendGrid[r.Key]
		if n > 1 {
			rep.MailDuplicates++
			rep.problem("mail sent at most once", "%s reached SendGrid %d times", r.Key, n)
		}
		switch r.Status {
		case "sent":
			rep.MailsSent++
			if r.Channel == "email" && n != 1 {
				rep.SentNotAtSendGrid++
				rep.problem("sent means SendGrid has it", "%s is sent but reached SendGrid %d times", r.Key, n)
			}
		case "unconfirmed":
			rep.Unconfirmed++
		case "failed":
			rep.FailedMails++
		case "pending", "sending":
			if !r.Created.Before(ce.liftAt) {
				break
			}
			// Delayed, not lost, while its customer's workflow still has
			// a send scheduled (the email retries back off to 10 minutes).
			if ce.sendRetry(rep, r.Customer) {
				rep.Delayed++
				break
			}
			rep.Stuck++
			rep.problem("mail delivered or settled", "%s is still %s, queued %s before the faults were lifted, and no send of it is scheduled",
				r.Key, r.Status, ce.liftAt.Sub(r.Created).Round(time.Second))
		}
	}
	for key, n := range atSendGrid {
		if !inOutbox[key] {
			rep.UnknownMails += n
			rep.problem("mail sent at most once", "SendGrid got %q (%d times), which is not in the outbox", key, n)
		}
	}
	// Every notice the workflows decided on is in the outbox, or recorded
	// as not sendable.
	var decided, settled []string
	if err := ce.db.Select(&decided, `SELECT detail->>'notice' FROM audit_log WHERE detail ? 'notice' AND at < $1`, ce.liftAt); err != nil {
		rep.problem("database readable", "audit notices: %v", err)
		return
	}
	if err := ce.db.Select(&settled, `SELECT detail->>'dunning_key' FROM audit_log WHERE action = 'email.failed'`); err != nil {
		rep.problem("database readable", "email failures: %v", err)
		return
	}
	failed := map[string]bool{}
	for _, k := range settled {
		failed[k] = true
	}
	for _, k := range decided {
		if !inOutbox[k] && !failed[k] {
			rep.NoticesNeverQueued++
			rep.problem("every notice queued", "notice %s was decided before the faults were lifted and is not in the outbox", k)
		}
	}
}

// sendRetry takes one of the customer's scheduled sends for a waiting mail.
func (ce *chaosEnv) sendRetry(rep *chaosReport, customer string) bool {
	if rep.sendsRetrying[customer] == 0 {
		return false
	}
	rep.sendsRetrying[customer]--
	return true
}

type customerRow struct {
	Status  string `db:"status"`
	Access  string `db:"access"`
	Balance int64  `db:"balance_minor"`
	Credit  int64  `db:"credit_minor"`
}

func (ce *chaosEnv) customerRow(id string) (customerRow, error) {
	var r customerRow
	err := ce.db.Get(&r, `SELECT status, access, balance_minor, credit_minor FROM customers WHERE customer_id = $1`, id)
	return r, err
}

// checkCustomers compares each customer's GetStatus with its customers row
// and with what the provisioning webhook applied.
func (ce *chaosEnv) checkCustomers(rep *chaosReport) {
	refused := map[string]bool{}
	for _, id := range ce.prov.Refused() {
		refused[id] = true
	}
	rep.ProvisioningRefused = len(refused)
	for _, c := range ce.custs {
		id := c.id()
		before, err := ce.customerRow(id)
		if err != nil {
			rep.Drift++
			rep.problem("GetStatus agrees with PostgreSQL", "%s: customers row: %v", id, err)
			continue
		}
		v, raw, err := ce.statusOf(id, 15*time.Second)
		if err != nil {
			rep.Drift++
			rep.problem("GetStatus agrees with PostgreSQL", "%s: GetStatus: %v", id, err)
			continue
		}
		after, _ := ce.customerRow(id)
		got := customerRow{Status: string(v.Status), Access: string(v.Access), Balance: v.BalanceMinor, Credit: v.CreditMinor}
		if before != after || got != after {
			rep.Drift++
			rep.problem("GetStatus agrees with PostgreSQL", "%s: GetStatus %+v, customers row %+v", id, got, after)
		}
		field, shown := provisioningFailureShown(raw)
		if field != "" {
			rep.ProvisioningFieldSeen = true
		}
		want := appliedFor(v.Status)
		applied, ok := ce.prov.Applied(id)
		rep.ProvisioningOutOfOrd += applied.OutOfOrder
		have := ""
		if ok {
			have = applied.Status
		}
		accessOK := v.Status != account.StatusActive || !ok || applied.Access == string(v.Access)
		if have == want && accessOK {
			continue
		}
		if v.Status == account.StatusTerminated && !ok && !slices.ContainsFunc(ce.prov.Served(), func(s faults.Served) bool { return s.CustomerID == id }) {
			continue // an application cancelled before service: nothing to take away
		}
		what := fmt.Sprintf("%s is %s/%s, the webhook applied %q/%q (actions %v)", id, v.Status, v.Access, have, applied.Access, applied.Actions)
		if refused[id] {
			if shown {
				rep.ProvisioningVisible++
				continue
			}
			if checkProvisioningVisibility || field != "" {
				rep.ProvisioningMismatch++
				rep.problem("provisioning enforced or visibly failed", "%s; refused by the webhook and %s does not show it", what, orNone(field))
			} else {
				rep.todos = append(rep.todos, what+"; refused by the webhook, and GetStatus has no provisioning field to show it")
			}
			continue
		}
		rep.ProvisioningMismatch++
		rep.problem("provisioning enforced or visibly failed", "%s", what)
	}
}

func orNone(s string) string {
	if s == "" {
		return "GetStatus"
	}
	return "GetStatus." + s
}

// appliedFor is the subscription status that a decided status requires.
func appliedFor(s account.Status) string {
	switch s {
	case account.StatusActive, account.StatusPastDue:
		return "active"
	case account.StatusSuspended:
		return "suspended"
	case account.StatusTerminated:
		return "terminated"
	}
	return "" // nothing provisioned before service starts
}

// provisioningFailureShown looks for a provisioning failure in GetStatus:
// the top-level field whose name mentions provisioning (README:
// `provisioning` with `state` in_sync, pending or failing). It returns the
// field's name ("" when there is none) and whether it shows a failure.
func provisioningFailureShown(raw map[string]any) (string, bool) {
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if !strings.Contains(strings.ToLower(k), "provision") {
			continue
		}
		switch v := raw[k].(type) {
		case nil:
			return k, false
		case bool:
			return k, v
		case string:
			return k, v == "failing"
		case map[string]any:
			if st, ok := v["state"].(string); ok {
				return k + ".state", st == "failing"
			}
			return k, len(v) > 0
		default:
			return k, !reflect.ValueOf(v).IsZero()
		}
	}
	return "", false
}

// provisioningState is GetStatus's provisioning.state, or "".
func provisioningState(raw map[string]any) string {
	if p, ok := raw["provisioning"].(map[string]any); ok {
		if st, ok := p["state"].(string); ok {
			return st
		}
	}
	return ""
}

// provisioningDuringRefusals runs while the webhook still refuses some
// customers: each of them whose applied subscriptions differ from the
// decided status must show it in GetStatus and in the ProvisioningState
// search attribute (a decided suspension is enforced or visibly
// escalated).
func (ce *chaosEnv) provisioningDuringRefusals() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	failingSA := map[string]bool{}
	res, saErr := ce.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: chaosNamespace, Query: `ProvisioningState = "failing" AND ExecutionStatus = "Running"`, PageSize: 1000,
	})
	if saErr == nil {
		for _, e := range res.Executions {
			failingSA[e.Execution.WorkflowId] = true
		}
	}
	refused := map[string]bool{}
	for _, id := range ce.prov.Refused() {
		refused[id] = true
	}
	var checked, mismatched, shown, inSA int
	for _, c := range ce.custs {
		if !c.refusable || !refused[c.id()] {
			continue
		}
		v, raw, err := ce.statusOf(c.id(), 10*time.Second)
		if err != nil {
			ce.faults.note("provisioning during refusals: %s: %v", c.id(), err)
			continue
		}
		checked++
		applied, ok := ce.prov.Applied(c.id())
		want := appliedFor(v.Status)
		if ok && applied.Status == want {
			continue
		}
		mismatched++
		field, visible := provisioningFailureShown(raw)
		state := provisioningState(raw)
		if visible || state == "pending" {
			shown++
		}
		if failingSA[workflows.WorkflowID(c.id())] {
			inSA++
		}
		if !checkProvisioningVisibility && field == "" {
			continue
		}
		if !visible && state != "pending" {
			ce.t.Errorf("INVARIANT provisioning visibly failed: %s is %s while the webhook applied %q and refuses it, but %s does not show it",
				c.id(), v.Status, applied.Status, orNone(field))
		}
		if visible && !failingSA[workflows.WorkflowID(c.id())] {
			ce.t.Errorf("INVARIANT provisioning visibly failed: %s shows a failing provisioning in GetStatus but not in ProvisioningState (list error: %v)", c.id(), saErr)
		}
	}
	ce.faults.note("provisioning during refusals: %d refused customers checked, %d differ from their decision, %d show it in GetStatus, %d in ProvisioningState",
		checked, mismatched, shown, inSA)
	ce.midDrive = fmt.Sprintf("%d refused, %d differing, %d shown in GetStatus, %d in ProvisioningState", checked, mismatched, shown, inSA)
}

// checkWorkflows lists every run in the chaos namespace: none may have
// failed or been terminated from outside, and none may be stuck on a
// failing workflow task.
func (ce *chaosEnv) checkWorkflows(rep *chaosReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep.WorkflowStatus = map[string]int{}
	rep.sendsRetrying = map[string]int{}
	var token []byte
	for {
		res, err := ce.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: chaosNamespace, Query: fmt.Sprintf("WorkflowType = %q", workflows.WorkflowType), NextPageToken: token, PageSize: 500,
		})
		if err != nil {
			rep.problem("no workflow failed", "list workflows: %v", err)
			return
		}
		for _, e := range res.Executions {
			st := e.GetStatus()
			rep.WorkflowStatus[strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"))]++
			switch st {
			case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
				enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
				rep.BadWorkflows++
				rep.problem("no workflow failed", "%s run %s is %s", e.Execution.WorkflowId, e.Execution.RunId, st)
			}
		}
		token = res.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	// The Failed query the issue names, as an operator would type it.
	n, err := ce.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: chaosNamespace, Query: fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = 'Failed'", workflows.WorkflowType),
	})
	if err != nil {
		rep.problem("no workflow failed", "count failed workflows: %v", err)
	} else if n.Count > 0 {
		rep.problem("no workflow failed", "%d CustomerLifecycle workflows are Failed", n.Count)
	}
	for _, c := range ce.custs {
		d, err := ce.c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(c.id()), "")
		if err != nil {
			rep.problem("no workflow stuck", "describe %s: %v", c.id(), err)
			continue
		}
		if wt := d.GetPendingWorkflowTask(); wt != nil && wt.GetAttempt() > 3 {
			rep.StuckWorkflowTasks++
			rep.problem("no workflow stuck", "%s: workflow task on attempt %d", c.id(), wt.GetAttempt())
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetAttempt() > 3 {
				rep.RetryingActivities++
			}
			if a.GetActivityType().GetName() == "SendNotice" {
				rep.sendsRetrying[c.id()]++
			}
		}
	}
}

// checkReplay replays every run of every chaos customer with the current
// workflow code: crashes and restarts must not have produced histories the
// code cannot replay.
func (ce *chaosEnv) checkReplay(rep *chaosReport) {
	// The workers' policies: a lean history names its policy by ID and
	// content hash only.
	reg, err := setup.Policies(config.Config{PolicyDir: env.policyDir})
	if err != nil {
		ce.t.Fatal(err)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions((&workflows.Workflows{Policies: reg}).CustomerLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	for _, c := range ce.custs {
		wid := workflows.WorkflowID(c.id())
		res, err := ce.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: chaosNamespace, Query: fmt.Sprintf("WorkflowId = %q", wid),
		})
		if err != nil {
			rep.problem("histories replay", "list %s: %v", wid, err)
			continue
		}
		for _, e := range res.Executions {
			it := ce.c.GetWorkflowHistory(ctx, wid, e.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			h := &historypb.History{}
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					rep.problem("histories replay", "history of %s: %v", wid, err)
					break
				}
				h.Events = append(h.Events, ev)
			}
			if err := replayer.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: wid, RunID: e.Execution.RunId}}); err != nil {
				rep.ReplayFailures++
				rep.problem("histories replay", "%s run %s: %v", wid, e.Execution.RunId, err)
			}
		}
	}
}

// runReconcile runs `starter reconcile` (being built on the reconcile
// branch) against the chaos namespace and database when the starter has
// the command; it must report no drift (exit 0).
func (ce *chaosEnv) runReconcile(rep *chaosReport) {
	bin := filepath.Join(env.binDir, "starter")
	extra := map[string]string{"TEMPORAL_NAMESPACE": chaosNamespace, "DUNNING_TASK_QUEUE": chaosQueue, "DATABASE_URL": ce.dbURL,
		"DUNNING_PROVISIONING_URL": ce.prov.URL(), // the webhook, not the subscriptions table, holds provisioning
		"STRIPE_API_BASE":          ce.stripe.URL()}
	help := exec.Command(bin, "reconcile", "--help")
	help.Env = workerEnv(extra)
	out, err := help.CombinedOutput()
	if err != nil || strings.Contains(string(out), "unknown command") {
		rep.Reconcile = "NOT RUN: the starter has no reconcile command"
		ce.t.Logf("!!!!!! RECONCILE NOT RUN: `starter reconcile` does not exist in this build (branch reconcile not merged?): %v\n%s", err, strings.TrimSpace(string(out)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "reconcile")
	cmd.Env = workerEnv(extra)
	out, err = cmd.CombinedOutput()
	ce.t.Logf("starter reconcile (%v):\n%s", err, tail(string(out), 4000))
	if err != nil {
		rep.Reconcile = "drift"
		ce.t.Errorf("INVARIANT reconcile reports no drift: `starter reconcile` exited with %v", err)
		return
	}
	rep.Reconcile = "no drift"
}

// report prints the figures.
func (ce *chaosEnv) report(rep *chaosReport) {
	t := ce.t
	px := ce.proxy.Stats()
	starts, failedStarts, kills := ce.sup.counts()
	faultsBy := maps.Clone(rep.Faults)
	faultsBy["db_connections_reset"] = int(px.Reset)
	faultsBy["db_connections_held"] = int(px.Held)
	faultsBy["worker_failed_starts"] = failedStarts
	for k, v := range ce.prov.Counts() {
		if k != "applied" && k != "duplicate" {
			faultsBy["webhook_answered_"+strings.ReplaceAll(strings.ToLower(k), " ", "_")] = v
		}
	}
	for k, v := range ce.sg.FaultsServed() {
		faultsBy["sendgrid_answered_"+k] = v
	}
	t.Logf("customers driven: %d %v", rep.Customers, rep.ByKind)
	t.Logf("faults injected: %v", faultsBy)
	t.Logf("worker: %d starts (%d failed while PostgreSQL was away), %d SIGKILLs", starts, failedStarts, kills)
	t.Logf("payments: %+v", rep.Payments)
	t.Logf("usage:    %+v", rep.Usage)
	t.Logf("staff:    %+v", rep.Staff)
	t.Logf("unexpected payment/usage rows: %d", rep.UnexpectedRows)
	for i, u := range rep.unknownOps {
		if i == 20 {
			t.Logf("  ... and %d more with an unknown outcome", len(rep.unknownOps)-i)
			break
		}
		t.Logf("  unknown outcome: %s", u)
	}
	t.Logf("mail: outbox %d, sent %d, at SendGrid %d, duplicates %d, sent-but-missing %d, unknown %d, unconfirmed %d, failed %d, delayed (retry scheduled) %d, stuck %d, notices never queued %d",
		rep.OutboxRows, rep.MailsSent, rep.MailsToSendGrid, rep.MailDuplicates, rep.SentNotAtSendGrid, rep.UnknownMails,
		rep.Unconfirmed, rep.FailedMails, rep.Delayed, rep.Stuck, rep.NoticesNeverQueued)
	t.Logf("provisioning: webhook %v, refused customers %d; while refusing: %s; at the end: mismatches %d, shown as failures %d, out-of-order arrivals %d, GetStatus provisioning field: %v",
		ce.prov.Counts(), rep.ProvisioningRefused, ce.midDrive, rep.ProvisioningMismatch, rep.ProvisioningVisible, rep.ProvisioningOutOfOrd, rep.ProvisioningFieldSeen)
	t.Logf("answer times: payments %s; usage %s; staff %s", latency(ce.ledger.all(), "payment"), latency(ce.ledger.all(), "usage"), latency(ce.ledger.all(), "staff"))
	waited := map[string]int{}
	for _, o := range ce.ledger.all() {
		if o.acked && o.took > 30*time.Second {
			waited[o.kind]++
		}
	}
	t.Logf("acknowledged after waiting more than 30 s (through an outage, durable when answered): %v", waited)
	t.Logf("workflows: %v; bad %d, stuck tasks %d, activities still retrying %d, replay failures %d",
		rep.WorkflowStatus, rep.BadWorkflows, rep.StuckWorkflowTasks, rep.RetryingActivities, rep.ReplayFailures)
	ce.reportCards(rep)
	t.Logf("drift (GetStatus vs customers row): %d; reconcile: %s", rep.Drift, rep.Reconcile)
	total := 0
	for _, v := range rep.Faults {
		total += v
	}
	t.Logf("CHAOS SUMMARY customers=%d faults=%d (%s) payments_acked=%d found=%d lost=%d duplicates=%d unknown=%d (found %d) refused=%d "+
		"not_durable_at_ack=%d usage_acked=%d lost=%d mails_sent=%d mail_duplicates=%d unconfirmed=%d drift=%d provisioning_mismatch=%d "+
		"bad_workflows=%d replay_failures=%d reconcile=%q %s",
		rep.Customers, total, faultSummary(rep.Faults), rep.Payments.Acked, rep.Payments.Found, rep.Payments.Lost, rep.Payments.Duplicates,
		rep.Payments.Unknown, rep.Payments.UnknownFound, rep.Payments.Refused, rep.Payments.NotDurableAtAck+rep.Usage.NotDurableAtAck,
		rep.Usage.Acked, rep.Usage.Lost, rep.MailsSent, rep.MailDuplicates, rep.Unconfirmed, rep.Drift, rep.ProvisioningMismatch,
		rep.BadWorkflows, rep.ReplayFailures, rep.Reconcile, cardSummary(rep.Cards))
}

// latency summarises how long acknowledged requests of a kind took.
func latency(ops []*op, kind string) string {
	var d []time.Duration
	for _, o := range ops {
		k := o.kind
		if k != "payment" && k != "usage" {
			k = "staff"
		}
		if k == kind && o.acked {
			d = append(d, o.took)
		}
	}
	if len(d) == 0 {
		return "none acknowledged"
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))].Round(10 * time.Millisecond) }
	return fmt.Sprintf("p50 %s, p95 %s, max %s", at(0.5), at(0.95), at(1))
}

func faultSummary(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
