package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/example/dunning/account"
	"github.com/example/dunning/money"
)

// ScreenshotsEnv names a directory to write the console's screenshots to
// (docs/screenshots for the README); unset, none are taken.
const ScreenshotsEnv = "DUNNING_SCREENSHOTS"

// browser is a headless Chromium of its own, with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("no Chromium: set CHROMIUM (make test does, with scripts/ensure-chromium.sh)")
		}
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	// The first run starts the browser, which lives as long as the context
	// of that run: b.ctx itself, not one with a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return b
}

// do runs the steps, failing the test on an error or after a minute.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		b.t.Fatalf("browser at %s: %v\n%s", loc, err, html)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browser) eval(js string) any {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// post runs the script, which submits a form, and answers the status and
// the text of the page that it loads.
func (b *browser) post(script string) (int, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](script)(ctx, t)
		return chromedp.Void{}, err
	}))
	if err != nil {
		b.t.Fatalf("post: %v", err)
	}
	return int(resp.Status), b.text("main")
}

// signIn signs in through the form with the API token.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.do(chromedp.Navigate(env.apiURL+"/console/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#signout")))
}

// screenshot saves the page when screenshots are asked for.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// The staff console in a real browser against the real worker: sign in
// with an API token, find a customer, a refused payment shows the
// workflow's message on its form, a payment changes the balance (and is
// audited as the token's name), a POST without the CSRF token is refused,
// a viewer gets no forms and is refused on the server, and sign-out ends
// the session on the server.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	op := newBrowser(t)
	op.signIn(operatorToken)
	if who := op.text("[data-testid=who]"); who != "ops-bot · operator" {
		t.Errorf("signed in as %q", who)
	}
	// The standard policy: a prepayment that waits for days, whatever the
	// machine's speed.
	app := application("console-cust", "standard")
	onboard(t, app)
	var v account.StatusView
	eventually(t, 30*time.Second, "the prepayment request", func() bool {
		v = status(t, app.CustomerID)
		return v.Status == account.StatusAwaitingPrepayment && len(v.Invoices) == 1
	})
	due := v.Invoices[0].OutstandingMinor

	// Find the customer by ID from the customers page.
	op.do(chromedp.Navigate(env.apiURL+"/console/customers"), chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), app.CustomerID), chromedp.Click(chromedp.CSS("form.search button")),
		chromedp.WaitVisible(chromedp.CSS("#balance")))
	if h := op.text("h1"); h != app.Name {
		t.Errorf("heading %q, want %q", h, app.Name)
	}
	// What a page view costs: the server's time to the last byte (one
	// GetStatus query and two PostgreSQL reads) and the HTML's size.
	timing := op.eval(`(() => { const n = performance.getEntriesByType("navigation")[0]; return Math.round(n.responseEnd - n.requestStart) + " ms, " + n.transferSize + " bytes"; })()`)
	t.Logf("customer page: %v", timing)
	before := op.text("#balance")
	if want := money.Format(v.BalanceMinor, "USD"); before != want {
		t.Errorf("balance shown %q, status says %q", before, want)
	}

	// A payment in the wrong currency: the workflow's refusal on the form.
	op.do(chromedp.SetValue(chromedp.CSS("#payment-amount"), money.Decimal(due, "USD")), chromedp.SetValue(chromedp.CSS("#payment-currency"), "EUR"),
		chromedp.Click(chromedp.CSS("#act-payment button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#err-payment")))
	if msg := op.text("#err-payment"); !strings.Contains(msg, "currency EUR does not match the account currency USD") {
		t.Errorf("refusal shown: %q", msg)
	}
	if focused := op.eval(`document.activeElement && document.activeElement.closest("#act-payment") !== null`); focused != true {
		t.Error("the refused form does not have the focus")
	}
	if got := op.text("#balance"); got != before {
		t.Errorf("balance after a refused payment: %q, was %q", got, before)
	}

	// The payment, in the account's currency: the balance changes.
	op.do(chromedp.SetValue(chromedp.CSS("#payment-currency"), "USD"), chromedp.SetValue(chromedp.CSS("#payment-reference"), "wire 42"),
		chromedp.Click(chromedp.CSS("#act-payment button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	after := op.text("#balance")
	if want := money.Format(v.BalanceMinor-due, "USD"); after != want || after == before {
		t.Errorf("balance after paying %d: %q, want %q (was %q)", due, after, want, before)
	}
	if st := status(t, app.CustomerID); st.Status != account.StatusActive {
		t.Errorf("status after the prepayment: %s", st.Status)
	}
	if !audited(t, app.CustomerID, account.EventPaymentRecorded, "ops-bot") {
		t.Error("the payment is not in the audit log as ops-bot")
	}

	if os.Getenv(ScreenshotsEnv) != "" {
		screenshotTour(t, op, app.CustomerID)
	}

	// The suspend form posted without its CSRF token (with the session's
	// cookie and the console's origin) is refused and changes nothing.
	code, page := op.post(`const f = document.querySelector("#act-suspend");
		f.querySelector("input[name=csrf]").remove();
		f.querySelector("#suspend-reason").value = "forged";
		f.requestSubmit();`)
	if code != http.StatusForbidden || !strings.Contains(page, "This form has expired or did not come from the console") {
		t.Errorf("POST without the CSRF token: %d %.300s", code, page)
	}
	if st := status(t, app.CustomerID); st.Status != account.StatusActive || len(st.Suspensions) != 0 {
		t.Errorf("a forged POST suspended the customer: %s %v", st.Status, st.Suspensions)
	}

	// Sign-out ends the session on the server, not only in this browser.
	cookies, err := chromedp.Call(op.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{env.apiURL + "/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "dunning_console" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie: %+v", session)
	}
	op.do(chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#token")))
	if msg := op.text("#flash"); msg != "You are signed out." {
		t.Errorf("after sign-out: %q", msg)
	}
	req, _ := http.NewRequest("GET", env.apiURL+"/console/customers/"+app.CustomerID, nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/console/signin") {
		t.Errorf("the signed-out session's cookie still works: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A viewer sees the customer but no action form, and the server
	// refuses a viewer's POST even with the session's CSRF token.
	viewer := newBrowser(t)
	viewer.signIn(viewerToken)
	viewer.do(chromedp.Navigate(env.apiURL+"/console/customers/"+app.CustomerID), chromedp.WaitVisible(chromedp.CSS("#viewer-note")))
	if forms := viewer.eval(`document.querySelectorAll("form.action").length`); forms != float64(0) {
		t.Errorf("a viewer sees %v action forms", forms)
	}
	code, page = viewer.post(`const f = document.createElement("form");
		f.method = "post";
		f.action = "/console/customers/` + app.CustomerID + `/suspend";
		for (const [k, v] of [["csrf", document.querySelector("input[name=csrf]").value], ["reason", "viewer"]]) {
			const i = document.createElement("input");
			i.type = "hidden"; i.name = k; i.value = v;
			f.appendChild(i);
		}
		document.body.appendChild(f);
		f.submit();`)
	if code != http.StatusForbidden || !strings.Contains(page, "viewers can see but not act") {
		t.Errorf("viewer POST: %d %.300s", code, page)
	}
	if st := status(t, app.CustomerID); st.Status != account.StatusActive {
		t.Errorf("a viewer's POST changed the customer: %s", st.Status)
	}
}

// audited says whether the customer's audit log has the action by the actor.
func audited(t *testing.T, customerID string, action account.EventType, actor string) bool {
	t.Helper()
	var n int
	if err := env.db.Get(&n, `SELECT count(*) FROM audit_log WHERE customer_id = $1 AND action = $2 AND actor = $3`, customerID, string(action), actor); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// screenshotTour takes the README's pictures of the main pages, after
// giving the customers and aging pages a few customers who pay late.
func screenshotTour(t *testing.T, b *browser, customerID string) {
	t.Helper()
	late := []account.Application{application("console-late-1", "e2e"), application("console-late-2", "e2e")}
	late[0].Name, late[1].Name = "Hanbit Cloud Co.", "Northwind Traders"
	for _, a := range late {
		onboardActive(t, a)
	}
	eventually(t, 90*time.Second, "a late payer", func() bool {
		return status(t, late[0].CustomerID).DaysPastDue > 2
	})
	eventually(t, 30*time.Second, "the late payers listed", func() bool {
		out, _ := starter(t, "list", "--stage", status(t, late[0].CustomerID).DunningStage)
		return strings.Contains(out, late[0].CustomerID)
	})
	b.do(chromedp.Navigate(env.apiURL+"/console/customers/"+late[0].CustomerID), chromedp.WaitVisible(chromedp.CSS("#balance")))
	b.screenshot("customer")
	b.do(chromedp.Navigate(env.apiURL+"/console/lang?to=ko&back=/console/customers/"+late[0].CustomerID), chromedp.WaitVisible(chromedp.CSS("#balance")))
	b.screenshot("customer-ko")
	b.do(chromedp.Navigate(env.apiURL+"/console/lang?to=en&back=/console/customers"), chromedp.WaitVisible(chromedp.CSS("#customers")))
	b.screenshot("customers")
	b.do(chromedp.Navigate(env.apiURL+"/console/aging"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	b.screenshot("aging")
	b.do(chromedp.Navigate(env.apiURL+"/console/queue"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	b.screenshot("queue")
	b.do(chromedp.Navigate(env.apiURL+"/console/customers/"+customerID), chromedp.WaitVisible(chromedp.CSS("#balance")))
}
