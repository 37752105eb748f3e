package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/example/dunning/account"
	"github.com/example/dunning/activities"
	"github.com/example/dunning/contract"
	"github.com/example/dunning/risk"
)

// versionPaidAfterTermination: a payment the gateway took is recorded (as
// credit, with a staff alert) even when the account was terminated before
// its webhook arrived, instead of refused and kept in no book.
const versionPaidAfterTermination = "paid-after-termination"

// registerHandlers installs the query and every update. Each update has a
// validator that refuses bad input before it enters history; the handler
// checks again, since the account may have changed in between.
func (w *lifecycle) registerHandlers(ctx workflow.Context) error {
	if err := QueryGetStatus.Register(ctx, func() (account.StatusView, error) {
		return w.acct.View(workflow.Now(ctx)), nil
	}); err != nil {
		return err
	}
	if err := UpdateRecordPayment.Register(ctx,
		func(ctx workflow.Context, p account.Payment) (account.PaymentResult, error) {
			defer w.poke()
			if w.durable && w.acct.MayHaveForgottenPayment(p.PaymentID) {
				known, err := w.lookupKey(ctx, activities.KeyPayment, p.PaymentID)
				if err != nil {
					return account.PaymentResult{}, err
				}
				w.acct.RememberPayment(p.PaymentID, known)
			}
			// A gateway payment on a terminated account is recorded since
			// paid-after-termination; before, the account refused it.
			if w.acct.Status == account.StatusTerminated && p.FromGateway() && !w.lean &&
				workflow.GetVersion(ctx, versionPaidAfterTermination, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				return account.PaymentResult{}, errors.New("account is terminated: record payments on collections accounts with the collections agency")
			}
			res, events, err := w.acct.RecordPayment(p, workflow.Now(ctx))
			if err != nil {
				return res, err
			}
			return res, w.commitAndWait(ctx, events, "payment "+p.PaymentID)
		},
		func(_ workflow.Context, p account.Payment) error { return w.acct.CheckPayment(p) },
	); err != nil {
		return err
	}
	type staffOp struct {
		update contract.Update[account.StaffAction, account.StatusView]
		check  func(*account.Account, account.StaffAction) error
		apply  func(*account.Account, account.StaffAction, time.Time) ([]account.Event, error)
	}
	for _, op := range []staffOp{
		{UpdateSuspend, (*account.Account).CheckSuspend, (*account.Account).Suspend},
		{UpdateReinstate, (*account.Account).CheckReinstate, (*account.Account).Reinstate},
		{UpdateTerminate, (*account.Account).CheckTerminate, (*account.Account).Terminate},
	} {
		if err := register(ctx, w, op.update,
			func(_ workflow.Context, s account.StaffAction) error { return op.check(w.acct, s) },
			func(_ workflow.Context, s account.StaffAction, now time.Time) ([]account.Event, error) {
				return op.apply(w.acct, s, now)
			},
		); err != nil {
			return err
		}
	}
	if err := register(ctx, w, UpdatePromiseToPay,
		func(ctx workflow.Context, p account.Promise) error { return w.acct.CheckPromise(p, workflow.Now(ctx)) },
		func(_ workflow.Context, p account.Promise, now time.Time) ([]account.Event, error) {
			return w.acct.PromiseToPay(p, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateDisputeInvoice,
		func(_ workflow.Context, d account.Dispute) error { return w.acct.CheckDispute(d) },
		func(_ workflow.Context, d account.Dispute, now time.Time) ([]account.Event, error) {
			return w.acct.DisputeInvoice(d, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateResolveDispute,
		func(_ workflow.Context, r account.Resolution) error { return w.acct.CheckResolve(r) },
		func(_ workflow.Context, r account.Resolution, now time.Time) ([]account.Event, error) {
			return w.acct.ResolveDispute(r, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateWriteOff,
		func(_ workflow.Context, r account.InvoiceAction) error { return w.acct.CheckWriteOff(r) },
		func(_ workflow.Context, r account.InvoiceAction, now time.Time) ([]account.Event, error) {
			return w.acct.WriteOff(r, now)
		},
	); err != nil {
		return err
	}
	return errors.Join(w.registerRiskHandlers(ctx), w.registerReconcile(ctx), w.registerCollection(ctx), w.registerChangePolicy(ctx), w.registerSubscriptions(ctx))
}

// registerChangePolicy installs ChangePolicy. Like Resync it changes no
// existing history: the handler issues commands (a side effect loading
// the policy, the recording) only when a ChangePolicy is sent, which no
// history from before it contains, so no workflow.GetVersion is needed.
func (w *lifecycle) registerChangePolicy(ctx workflow.Context) error {
	return register(ctx, w, UpdateChangePolicy,
		func(_ workflow.Context, c account.PolicyChange) error {
			if err := c.Validate(); err != nil {
				return err
			}
			to, err := w.policies.Get(c.To)
			if err != nil {
				return err
			}
			return w.acct.CheckChangePolicy(c, to)
		},
		func(ctx workflow.Context, c account.PolicyChange, _ time.Time) ([]account.Event, error) {
			// Through a side effect, as at the start: a later change to the
			// policy files never changes what this customer replays.
			to, hash, err := loadPolicy(ctx, w.policies, c.To, w.lean)
			if err != nil {
				return nil, err
			}
			events, err := w.acct.ChangePolicy(c, to, workflow.Now(ctx))
			if err == nil {
				w.pinned(to, hash)
			}
			return events, err
		},
	)
}

// registerRiskHandlers installs the identity, misuse, review and budget
// updates.
func (w *lifecycle) registerRiskHandlers(ctx workflow.Context) error {
	if err := register(ctx, w, UpdateVerifyPhone,
		func(ctx workflow.Context, p account.PhoneCode) error {
			return w.acct.CheckPhoneCode(p, workflow.Now(ctx))
		},
		func(ctx workflow.Context, p account.PhoneCode, now time.Time) ([]account.Event, error) {
			unlock := w.lockPhone(ctx)
			defer unlock()
			if w.durable {
				now = workflow.Now(ctx) // after waiting for the lock
			}
			return w.acct.VerifyPhone(p, w.codeChecker(ctx), now)
		},
	); err != nil {
		return err
	}
	if err := UpdateRequestPhoneCode.Register(ctx,
		func(ctx workflow.Context, _ account.CodeRequest) (account.StatusView, error) {
			defer w.poke()
			unlock := w.lockPhone(ctx)
			defer unlock()
			// Checked again under the lock: a concurrent request may have
			// sent the last code allowed.
			if err := w.acct.CheckRequestCode(); err != nil {
				return account.StatusView{}, err
			}
			w.sendPhoneCode(ctx)
			if w.durable {
				if err := w.commitAndWait(ctx, nil, "phone code"); err != nil {
					return account.StatusView{}, err
				}
			}
			return w.acct.View(workflow.Now(ctx)), nil
		},
		func(workflow.Context, account.CodeRequest) error { return w.acct.CheckRequestCode() },
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateReportAbuse,
		func(_ workflow.Context, r account.AbuseReport) error {
			if err := w.acct.CheckAbuse(r); err != nil {
				return err
			}
			_, err := risk.AbuseSeverity(w.risk, r.Category)
			return err
		},
		func(ctx workflow.Context, r account.AbuseReport, now time.Time) ([]account.Event, error) {
			if r.SubscriptionID != "" && !w.subscribed(ctx) {
				return nil, errPredatesSubscriptions
			}
			severity, err := w.severity(ctx, r.Category)
			if err != nil {
				return nil, err
			}
			return w.acct.ReportAbuse(r, severity, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateReviewDecision,
		func(_ workflow.Context, d account.Decision) error { _, err := w.acct.CheckDecision(d); return err },
		func(_ workflow.Context, d account.Decision, now time.Time) ([]account.Event, error) {
			return w.acct.ReviewDecision(d, now)
		},
	); err != nil {
		return err
	}
	if err := register(ctx, w, UpdateSetBudget,
		func(_ workflow.Context, b account.Budget) error { return w.acct.CheckBudget(b) },
		func(_ workflow.Context, b account.Budget, now time.Time) ([]account.Event, error) {
			return w.acct.SetBudget(b, now)
		},
	); err != nil {
		return err
	}
	return register(ctx, w, UpdateReportUsage,
		func(_ workflow.Context, u account.Usage) error { return w.acct.CheckUsage(u) },
		func(ctx workflow.Context, u account.Usage, now time.Time) ([]account.Event, error) {
			if w.durable && w.acct.MayHaveForgottenUsage(u.UsageID) {
				// A key the account forgot may still be in PostgreSQL:
				// it must not be billed twice.
				known, err := w.lookupKey(ctx, activities.KeyUsage, u.UsageID)
				if err != nil {
					return nil, err
				}
				w.acct.RememberUsage(u.UsageID, known)
				now = workflow.Now(ctx)
			}
			return w.acct.ReportUsage(u, now)
		},
	)
}

// codeChecker compares a code with its hash. Since version code-secret the
// hash is keyed with a secret only activities know, so the comparison is a
// local activity; older runs compared in the workflow.
func (w *lifecycle) codeChecker(ctx workflow.Context) account.CodeChecker {
	if !w.lean && workflow.GetVersion(ctx, "code-secret", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return risk.CheckCode
	}
	return func(hash, salt, code string) bool {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second, Summary: "check the verification code",
		})
		var ok bool
		err := workflow.ExecuteLocalActivity(lctx, localCheckPhoneCode, activities.CodeCheck{Hash: hash, Salt: salt, Code: code}).Get(ctx, &ok)
		return err == nil && ok
	}
}

// severity reads a misuse category's severity from the risk configuration
// through a side effect, so that a later configuration change does not
// change what this customer replays.
func (w *lifecycle) severity(ctx workflow.Context, category string) (account.Severity, error) {
	type result struct {
		Severity account.Severity
		Err      string
	}
	var got result
	err := workflow.SideEffect(ctx, func(workflow.Context) any {
		s, err := risk.AbuseSeverity(w.risk, category)
		if err != nil {
			return result{Err: err.Error()}
		}
		return result{Severity: s}
	}).Get(&got)
	if err == nil && got.Err != "" {
		err = errors.New(got.Err)
	}
	return got.Severity, err
}

// register installs an update whose result is the account's status after
// the change has been recorded.
func register[T any](ctx workflow.Context, w *lifecycle, u contract.Update[T, account.StatusView],
	check func(workflow.Context, T) error,
	apply func(workflow.Context, T, time.Time) ([]account.Event, error),
) error {
	return u.Register(ctx,
		func(ctx workflow.Context, req T) (account.StatusView, error) {
			defer w.poke()
			events, err := apply(ctx, req, workflow.Now(ctx))
			// A failed update may still have changed something worth
			// recording (a wrong verification code uses up a try).
			if werr := w.commitAndWait(ctx, events, u.Name); werr != nil {
				return account.StatusView{}, werr
			}
			if err != nil {
				return account.StatusView{}, err
			}
			return w.acct.View(workflow.Now(ctx)), nil
		},
		check,
	)
}
