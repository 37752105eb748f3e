package console

import (
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/example/dunning/account"
	"github.com/example/dunning/api"
	"github.com/example/dunning/internal/faults"
	"github.com/example/dunning/internal/pgtest"
	"github.com/example/dunning/ops"
	"github.com/example/dunning/store"
	"github.com/example/dunning/workflows"
)

const (
	operatorSecret = "operator-secret-0000001"
	viewerSecret   = "viewer-secret-00000002"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is a console over the fake operations and a real session table.
type rig struct {
	t     *testing.T
	ops   *fakeOps
	db    *sqlx.DB
	clock *clock
	srv   *httptest.Server
}

func tokens(t *testing.T, spec string) api.Tokens {
	t.Helper()
	toks, err := api.ParseTokens(spec)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

const tokenSpec = "ops-bot:operator:" + operatorSecret + ",auditor:viewer:" + viewerSecret

func newRig(t *testing.T) *rig {
	t.Helper()
	_, db := pgtest.New(t)
	return newRigOn(t, db, tokenSpec)
}

func newRigOn(t *testing.T, db *sqlx.DB, tokenSpec string) *rig {
	return newRigWith(t, db, tokenSpec, 0)
}

func newRigWith(t *testing.T, db *sqlx.DB, tokenSpec string, sessionTimeout time.Duration) *rig {
	t.Helper()
	r := &rig{t: t, ops: newFakeOps(), db: db, clock: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}}
	h := New(Options{Ops: r.ops, Queue: r.ops, Outbound: r.ops, Sessions: PGSessions{DB: db}, Tokens: tokens(t, tokenSpec),
		TemporalUIURL: "http://ui.test:8233", Namespace: "default", Now: r.clock.now, SessionTimeout: sessionTimeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	mux.Handle(Prefix, h)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// browser is a client with cookies that does not follow redirects, and
// sends the console's Origin with POSTs as a browser does.
type browser struct {
	r      *rig
	c      *http.Client
	origin string
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{r: r, origin: r.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.r.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, string(body), resp.Header}
}

func (b *browser) get(path string, header ...string) page {
	b.r.t.Helper()
	req, _ := http.NewRequest("GET", b.r.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.r.t.Helper()
	req, _ := http.NewRequest("POST", b.r.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	return b.do(req)
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the page's forms.
func (b *browser) csrf(path string) string {
	b.r.t.Helper()
	m := csrfPattern.FindStringSubmatch(b.get(path).body)
	if m == nil {
		b.r.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// signIn signs in with the secret and checks that it worked.
func (b *browser) signIn(secret string) {
	b.r.t.Helper()
	p := b.post(Prefix+"signin", url.Values{"csrf": {b.csrf(Prefix + "signin")}, "token": {secret}, "next": {Prefix + "customers/acme"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix+"customers/acme" {
		b.r.t.Fatalf("sign-in: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.r.srv.URL + Prefix)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustContain(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Errorf("page (%d) lacks %q:\n%s", p.status, s, p.body)
		}
	}
}

func mustNotContain(t *testing.T, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			t.Errorf("page (%d) has %q", p.status, s)
		}
	}
}

// Sign-in makes a session stored by its hash, in a cookie that scripts
// cannot read; the operator sees and uses the action forms, with the
// token's name as the actor whatever the form says.
func TestSignInAndRecordPayment(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	if p := b.get(Prefix + "customers/acme"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), Prefix+"signin?next=") {
		t.Fatalf("signed out: %d %s", p.status, p.header.Get("Location"))
	}
	b.signIn(operatorSecret)
	c := b.cookie(sessionCookie)
	if c == nil {
		t.Fatal("no session cookie")
	}
	var hashes [][]byte
	if err := r.db.Select(&hashes, `SELECT id_hash FROM console_sessions`); err != nil || len(hashes) != 1 {
		t.Fatalf("sessions: %v %d", err, len(hashes))
	}
	if want := sha256.Sum256([]byte(c.Value)); string(hashes[0]) != string(want[:]) {
		t.Error("the stored session is not the hash of the cookie's ID")
	}
	var n int
	_ = r.db.Get(&n, `SELECT count(*) FROM console_sessions WHERE position(convert_to($1, 'UTF8') in id_hash) > 0 OR csrf_token = $1`, c.Value)
	if n != 0 {
		t.Error("the session ID is stored in the clear")
	}

	p := b.get(Prefix + "customers/acme")
	mustContain(t, p, "Acme Ltd", `id="balance">$125.00<`, `id="act-payment"`, `id="act-terminate"`, "ops-bot · operator",
		`href="http://ui.test:8233/namespaces/default/workflows/customer-acme"`, "Your invoice is overdue", "Bounced", "invoice_issued")
	form := url.Values{"csrf": {b.csrf(Prefix + "customers/acme")}, "payment_id": {"pay-1"}, "amount": {"25.00"}, "currency": {"USD"},
		"method": {"bank_transfer"}, "actor": {"mallory"}}
	p = b.post(Prefix+"customers/acme/payment", form)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix+"customers/acme?done=payment" {
		t.Fatalf("payment: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
	got := r.ops.got()
	if len(got) != 1 || got[0].name != workflows.UpdateRecordPayment.Name {
		t.Fatalf("updates: %+v", got)
	}
	if pay := got[0].arg.(account.Payment); pay.Actor != "ops-bot" || pay.AmountMinor != 2500 || pay.PaymentID != "pay-1" {
		t.Errorf("payment sent: %+v", pay)
	}
	p = b.get(p.header.Get("Location"))
	mustContain(t, p, "Payment recorded.", `id="balance">$100.00<`)
	// The same form posted again (back, submit): recorded once, and said so.
	p = b.post(Prefix+"customers/acme/payment", form)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix+"customers/acme?done=duplicate" {
		t.Fatalf("payment again: %d %s", p.status, p.header.Get("Location"))
	}
	mustContain(t, b.get(p.header.Get("Location")), "already recorded", `id="balance">$100.00<`)
}

// The session cookie's attributes: HttpOnly, SameSite=Lax, Secure only over
// HTTPS (or a https public URL), scoped to the console.
func TestSessionCookieAttributes(t *testing.T) {
	_, db := pgtest.New(t)
	for _, tc := range []struct {
		public string
		secure bool
	}{{"", false}, {"https://billing.example.com", true}} {
		r := newRigOn(t, db, tokenSpec)
		s := New(Options{Ops: r.ops, Sessions: PGSessions{DB: db}, Tokens: tokens(t, tokenSpec), PublicURL: tc.public, Now: r.clock.now,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		get := httptest.NewRecorder()
		s.ServeHTTP(get, httptest.NewRequest("GET", "http://127.0.0.1"+Prefix+"signin", nil))
		token := get.Result().Cookies()[0]
		req := httptest.NewRequest("POST", "http://127.0.0.1"+Prefix+"signin", strings.NewReader(url.Values{"csrf": {token.Value}, "token": {viewerSecret}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", map[bool]string{false: "http://127.0.0.1", true: "https://billing.example.com"}[tc.secure])
		req.AddCookie(token)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var sess *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == sessionCookie {
				sess = c
			}
		}
		if rec.Code != http.StatusSeeOther || sess == nil {
			t.Fatalf("public %q: %d %s", tc.public, rec.Code, rec.Body)
		}
		if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure != tc.secure || sess.Path != Prefix || sess.MaxAge <= 0 {
			t.Errorf("public %q: cookie %+v", tc.public, sess)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
	}
}

// A viewer sees the customer without any action form, and a POST from a
// viewer is refused on the server even with a valid CSRF token.
func TestViewerCannotAct(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(viewerSecret)
	p := b.get(Prefix + "customers/acme")
	mustContain(t, p, "Acme Ltd", `id="viewer-note"`, "auditor · viewer")
	mustNotContain(t, p, `id="act-payment"`, `action="/console/customers/acme/`)
	if strings.Contains(b.get(Prefix+"collections").body, `id="export-form"`) || strings.Contains(b.get(Prefix+"queue").body, `href="/console/onboard"`) {
		t.Error("a viewer is offered an action")
	}
	if p := b.get(Prefix + "onboard"); p.status != http.StatusForbidden || strings.Contains(p.body, `id="onboard-form"`) {
		t.Errorf("a viewer gets the onboarding form: %d", p.status)
	}
	token := b.csrf(Prefix + "customers/acme") // the sign-out form's
	for path, form := range map[string]url.Values{
		"customers/acme/payment": {"amount": {"1"}, "currency": {"USD"}, "method": {"cash"}, "payment_id": {"p"}},
		"customers/acme/suspend": {"reason": {"test"}},
		"onboard":                {"customer_id": {"x"}},
		"collections":            {},
	} {
		form.Set("csrf", token)
		if p := b.post(Prefix+path, form); p.status != http.StatusForbidden || !strings.Contains(p.body, "viewers can see but not act") {
			t.Errorf("viewer POST %s: %d %s", path, p.status, p.body)
		}
	}
	if got := r.ops.got(); len(got) != 0 || len(r.ops.onboards) != 0 || r.ops.exported != 0 {
		t.Errorf("a viewer changed something: %+v", got)
	}
}

// Every POST needs the session's own CSRF token and the console's origin;
// the sign-in form needs its cookie's token. Refused, nothing changes.
func TestCSRF(t *testing.T) {
	r := newRig(t)
	a, other := r.browser(), r.browser()
	a.signIn(operatorSecret)
	other.signIn(operatorSecret)
	pay := func(token string) url.Values {
		return url.Values{"csrf": {token}, "amount": {"1"}, "currency": {"USD"}, "method": {"cash"}, "payment_id": {"p1"}}
	}
	good := a.csrf(Prefix + "customers/acme")
	wrong := "x" + good[1:]
	if wrong == good { // a token may start with x itself
		wrong = "y" + good[1:]
	}
	for name, tc := range map[string]struct {
		form   url.Values
		origin string
		status int
	}{
		"no token":                {pay(""), a.origin, http.StatusForbidden},
		"wrong token":             {pay(wrong), a.origin, http.StatusForbidden},
		"another session's token": {pay(other.csrf(Prefix + "customers/acme")), a.origin, http.StatusForbidden},
		"another origin":          {pay(good), "https://evil.example", http.StatusForbidden},
		"no origin, no referer":   {pay(good), "", http.StatusForbidden},
	} {
		a.origin = tc.origin
		if p := a.post(Prefix+"customers/acme/payment", tc.form); p.status != tc.status {
			t.Errorf("%s: %d %s", name, p.status, p.body)
		}
	}
	if got := r.ops.got(); len(got) != 0 {
		t.Fatalf("a forged POST ran: %+v", got)
	}
	// A same-origin Referer stands in for a missing Origin.
	req, _ := http.NewRequest("POST", r.srv.URL+Prefix+"customers/acme/payment", strings.NewReader(pay(good).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", r.srv.URL+Prefix+"customers/acme")
	if p := a.do(req); p.status != http.StatusSeeOther {
		t.Errorf("same-origin referer: %d %s", p.status, p.body)
	}
	// Sign-in: the form's token must match its cookie.
	fresh := r.browser()
	fresh.csrf(Prefix + "signin")
	if p := fresh.post(Prefix+"signin", url.Values{"csrf": {"forged"}, "token": {operatorSecret}}); p.status != http.StatusForbidden || fresh.cookie(sessionCookie) != nil {
		t.Errorf("sign-in with a forged token: %d", p.status)
	}
	// Sign-out is a form too.
	a.origin = r.srv.URL
	if p := a.post(Prefix+"signout", url.Values{}); p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") {
		t.Errorf("sign-out without a token: %d", p.status)
	}
}

// Sessions end when idle, at their absolute expiry, at sign-out (on every
// replica: the row is gone) and when their token is no longer configured.
func TestSessionsEnd(t *testing.T) {
	r := newRig(t)
	signedIn := func(b *browser) bool {
		p := b.get(Prefix + "queue")
		return p.status == http.StatusOK
	}
	idle := r.browser()
	idle.signIn(operatorSecret)
	r.clock.add(DefaultIdleTimeout - time.Minute)
	if !signedIn(idle) {
		t.Fatal("session ended before its idle timeout")
	}
	r.clock.add(DefaultIdleTimeout + time.Second)
	if signedIn(idle) {
		t.Error("an idle session is still live")
	}

	busy := r.browser()
	busy.signIn(operatorSecret)
	for range int(DefaultMaxAge/(20*time.Minute)) - 1 {
		r.clock.add(20 * time.Minute)
		if !signedIn(busy) {
			t.Fatalf("a busy session ended early at %s", r.clock.now())
		}
	}
	r.clock.add(40 * time.Minute)
	if signedIn(busy) {
		t.Error("a session outlived its absolute expiry")
	}

	out := r.browser()
	out.signIn(operatorSecret)
	stolen := out.cookie(sessionCookie).Value
	p := out.post(Prefix+"signout", url.Values{"csrf": {out.csrf(Prefix + "queue")}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "signin?bye=1") {
		t.Fatalf("sign-out: %d %s", p.status, p.body)
	}
	// A replica (another server on the same table) no longer knows the cookie.
	replica := newRigOn(t, r.db, tokenSpec)
	rb := replica.browser()
	u, _ := url.Parse(replica.srv.URL + Prefix)
	rb.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: stolen, Path: Prefix}})
	if signedIn(rb) {
		t.Error("a signed-out session still works on a replica")
	}

	// A token removed from the configuration ends its sessions.
	kept := r.browser()
	kept.signIn(viewerSecret)
	reconf := newRigOn(t, r.db, "ops-bot:operator:"+operatorSecret)
	reconf.clock = r.clock
	kb := reconf.browser()
	u, _ = url.Parse(reconf.srv.URL + Prefix)
	kb.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: kept.cookie(sessionCookie).Value, Path: Prefix}})
	if signedIn(kb) {
		t.Error("the session of a removed token still works")
	}
}

// A refused action shows the workflow's or validator's message on its
// form, keeps what was typed and the payment's idempotency key, and
// changes nothing.
func TestRefusedActionShowsMessage(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(operatorSecret)
	token := b.csrf(Prefix + "customers/acme")
	p := b.post(Prefix+"customers/acme/payment", url.Values{"csrf": {token}, "payment_id": {"pay-eur"}, "amount": {"10"}, "currency": {"EUR"}, "method": {"cash"}, "reference": {"wire 7"}})
	if p.status != http.StatusConflict {
		t.Fatalf("EUR payment: %d", p.status)
	}
	mustContain(t, p, `id="err-payment"`, "payment currency EUR does not match the account currency USD", `value="pay-eur"`, `value="wire 7"`, `data-focus`)
	for _, tc := range []struct{ action, field, value, want string }{
		{"payment", "amount", "-5", "amount &#34;-5&#34; must be a number"},
		{"payment", "amount", "0", "amount_minor must be a positive amount"},
		{"promise", "until", "soon", "until: &#34;soon&#34; is not a time"},
		{"suspend", "reason", "", "reason is required"},
		{"budget", "notice_percents", "80,50", "notice_percents must rise"},
		{"review", "decision", "maybe", "decision &#34;maybe&#34; must be one of"},
	} {
		form := url.Values{"csrf": {token}, "payment_id": {"p2"}, "currency": {"USD"}, "method": {"cash"}, "amount": {"5"}, "invoice_id": {"inv-1"}, "until": {"2026-12-20"}, "reason": {"r"}, "decision": {"approve"}}
		form.Set(tc.field, tc.value)
		p := b.post(Prefix+"customers/acme/"+tc.action, form)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="err-`+tc.action+`"`) {
			t.Errorf("%s %s=%q: %d", tc.action, tc.field, tc.value, p.status)
		}
		mustContain(t, p, tc.want)
	}
	if got := r.ops.got(); len(got) != 0 {
		t.Errorf("refused actions ran: %+v", got)
	}
	// An unknown customer or action is a 404, not a form.
	if p := b.post(Prefix+"customers/nobody/payment", url.Values{"csrf": {token}}); p.status != http.StatusNotFound {
		t.Errorf("unknown customer: %d", p.status)
	}
	if p := b.post(Prefix+"customers/acme/launch", url.Values{"csrf": {token}}); p.status != http.StatusNotFound {
		t.Errorf("unknown action: %d", p.status)
	}
}

// Each staff action sends its own update with the session's actor.
func TestEveryActionRunsItsUpdate(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(operatorSecret)
	token := b.csrf(Prefix + "customers/acme")
	want := map[ActionName]string{
		ActPromise: workflows.UpdatePromiseToPay.Name, ActDispute: workflows.UpdateDisputeInvoice.Name, ActResolve: workflows.UpdateResolveDispute.Name,
		ActSuspend: workflows.UpdateSuspend.Name, ActReinstate: workflows.UpdateReinstate.Name, ActTerminate: workflows.UpdateTerminate.Name,
		ActWriteOff: workflows.UpdateWriteOff.Name, ActReview: workflows.UpdateReviewDecision.Name, ActBudget: workflows.UpdateSetBudget.Name,
		ActPayment: workflows.UpdateRecordPayment.Name, ActPolicy: workflows.UpdateChangePolicy.Name,
		ActAddSubscription: workflows.UpdateAddSubscription.Name, ActQuantity: workflows.UpdateChangeQuantity.Name,
		ActCancel: workflows.UpdateCancelSubscription.Name, ActExempt: workflows.UpdateSetExemption.Name, ActUnexempt: workflows.UpdateRemoveExemption.Name,
	}
	for _, a := range actionNames {
		form := url.Values{"csrf": {token}, "payment_id": {"p-" + string(a)}, "currency": {"USD"}, "method": {"cash"}, "amount": {"5"},
			"invoice_id": {"inv-1"}, "until": {"2026-12-20"}, "reason": {"staff check"}, "decision": {"approve"}, "outcome": {"upheld"},
			"limit": {"500"}, "notice_percents": {"50, 80%,100"}, "hard_stop": {"on"}, "to": {"strict.v2"},
			"subscription_id": {"seats"}, "product": {"Seats"}, "quantity": {"3"}, "unit_price": {"20"}, "when": {"now"}, "exemption": {"manual_pay"}}
		if a == ActResolve {
			form.Del("amount")
		}
		if p := b.post(Prefix+"customers/acme/"+string(a), form); p.status != http.StatusSeeOther {
			t.Errorf("%s: %d %s", a, p.status, p.body)
		}
	}
	got := r.ops.got()
	if len(got) != len(actionNames) {
		t.Fatalf("%d updates for %d actions", len(got), len(actionNames))
	}
	for i, a := range actionNames {
		if got[i].name != want[a] {
			t.Errorf("%s ran %s, want %s", a, got[i].name, want[a])
		}
	}
	argOf := func(name string) any {
		for _, u := range got {
			if u.name == name {
				return u.arg
			}
		}
		t.Fatalf("no %s", name)
		return nil
	}
	if s := argOf(workflows.UpdateAddSubscription.Name).(account.SubscriptionSpec); s.SubscriptionID != "seats" || s.Quantity != 3 || s.UnitPriceMinor != 2000 || s.Actor != "ops-bot" {
		t.Errorf("subscription: %+v", s)
	}
	if e := argOf(workflows.UpdateSetExemption.Name).(account.ExemptionRequest); e.Exemption != account.ExemptManualPay || e.Reason != "staff check" || e.Until.IsZero() {
		t.Errorf("exemption: %+v", e)
	}
	if bud := argOf(workflows.UpdateSetBudget.Name).(account.Budget); bud.LimitMinor != 50000 || !bud.HardStop || len(bud.NoticePercents) != 3 || bud.Actor != "ops-bot" {
		t.Errorf("budget: %+v", bud)
	}
}

// The console speaks the browser's language, or the one picked with the
// switch; both have every message.
func TestLanguages(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	p := b.get(Prefix+"signin", "Accept-Language", "ko-KR,ko;q=0.9,en;q=0.5")
	mustContain(t, p, `<html lang="ko">`, "API 토큰으로 로그인하세요", `hreflang="en"`)
	p = b.get(Prefix+"signin", "Accept-Language", "fr-FR, en;q=0.8, ko;q=0.7")
	mustContain(t, p, `<html lang="en">`, "Sign in with your API token")
	b.signIn(operatorSecret)
	p = b.get(Prefix + "lang?to=ko&back=" + url.QueryEscape(Prefix+"customers/acme"))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix+"customers/acme" {
		t.Fatalf("switch: %d %s", p.status, p.header.Get("Location"))
	}
	p = b.get(Prefix+"customers/acme", "Accept-Language", "en")
	mustContain(t, p, `<html lang="ko">`, "결제 기록", "연체 1차", "반송")
	if p := b.get(Prefix + "lang?to=en&back=https://evil.example/"); p.header.Get("Location") != Prefix+"queue" {
		t.Errorf("switch to another site: %s", p.header.Get("Location"))
	}
}

var keyPattern = regexp.MustCompile(`\.T "([a-z_.0-9-]+)"`)

func TestCatalogComplete(t *testing.T) {
	for k, m := range catalog {
		if strings.TrimSpace(m[0]) == "" || strings.TrimSpace(m[1]) == "" {
			t.Errorf("message %q lacks a language: %q", k, m)
		}
	}
	files, _ := templateFS.ReadDir("templates")
	for _, f := range files {
		data, _ := templateFS.ReadFile("templates/" + f.Name())
		for _, m := range keyPattern.FindAllStringSubmatch(string(data), -1) {
			if _, ok := catalog[m[1]]; !ok {
				t.Errorf("%s uses %q, which has no message", f.Name(), m[1])
			}
		}
	}
	for _, a := range actionNames {
		for _, k := range []string{"action." + string(a), "action." + string(a) + ".submit", "done." + string(a)} {
			if _, ok := catalog[k]; !ok {
				t.Errorf("no message %q", k)
			}
		}
	}
	for _, k := range []string{"error.not_found", "error.invalid", "error.refused", "error.terminated", "error.unavailable", "error.internal", "customers.title", "customer.title", "onboard.title", "aging.title", "collections.title", "queue.title"} {
		if _, ok := catalog[k]; !ok {
			t.Errorf("no message %q", k)
		}
	}
	for _, k := range []ops.WorkItemKind{ops.WorkReview, ops.WorkProviderNotice, ops.WorkPromiseDue, ops.WorkEmailFailed, ops.WorkProvisioningFailed, ops.WorkSuspensionSoon} {
		if _, ok := catalog["work."+string(k)]; !ok {
			t.Errorf("no message for work item kind %q", k)
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]Lang{"": English, "ko": Korean, "KO-kr": Korean, "en-US,ko;q=0.9": English, "ja, ko;q=0.4": Korean,
		"ko;q=0, en;q=0.1": English, "ko;q=bad": English, "de": English} {
		if got := acceptLang(h); got != want {
			t.Errorf("acceptLang(%q) = %s, want %s", h, got, want)
		}
	}
}

// Hostile bytes in data or input are escaped, and the sign-in's way back
// never leaves the console.
func TestHostileInputEscaped(t *testing.T) {
	r := newRig(t)
	r.ops.status.Name = `<script>alert("name")</script>`
	r.ops.status.Reviews[0].Reason = `"><img src=x onerror=alert(1)>`
	b := r.browser()
	b.signIn(operatorSecret)
	p := b.get(Prefix + "customers/acme")
	mustNotContain(t, p, `<script>alert`, `<img src=x`)
	mustContain(t, p, `&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;`, `&#34;&gt;&lt;img src=x onerror=alert(1)&gt;`)
	p = b.post(Prefix+"customers/acme/suspend", url.Values{"csrf": {b.csrf(Prefix + "customers/acme")}, "reason": {"<b>x</b>\x00"}})
	mustNotContain(t, p, "<b>x</b>")
	if got := r.ops.got(); len(got) != 0 {
		t.Errorf("a reason with a NUL was sent: %+v", got)
	}
	p = b.get(Prefix + "customers?q=" + url.QueryEscape(`<svg onload=alert(1)>`))
	if p.status != http.StatusBadRequest {
		t.Errorf("hostile search: %d", p.status)
	}
	mustNotContain(t, p, "<svg onload")
	for _, next := range []string{"/console/../v1/customers", "//evil.example/", "https://evil.example/console/", "/console/\\evil", "/elsewhere", "/console/x\r\nSet-Cookie: a=b"} {
		if got := safeNext(next); got != Prefix+"queue" {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}
	if got := safeNext(Prefix + "customers?status=active"); got != Prefix+"customers?status=active" {
		t.Errorf("safeNext kept = %q", got)
	}
}

// Failed sign-ins from one address are slowed down: after five, even the
// right token waits.
func TestFailedSignInsAreLimited(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	for i := range maxFailures {
		p := b.post(Prefix+"signin", url.Values{"csrf": {b.csrf(Prefix + "signin")}, "token": {"wrong-token-guess-" + string(rune('a'+i))}})
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "That token is not known") {
			t.Fatalf("failure %d: %d", i, p.status)
		}
	}
	p := b.post(Prefix+"signin", url.Values{"csrf": {b.csrf(Prefix + "signin")}, "token": {operatorSecret}})
	if p.status != http.StatusTooManyRequests || b.cookie(sessionCookie) != nil {
		t.Fatalf("after %d failures: %d", maxFailures, p.status)
	}
	r.clock.add(failureWindow)
	b.signIn(operatorSecret)
}

// The customers page filters by the search attributes and pages with the
// listing's token; bad filters are explained and not sent.
func TestCustomersPage(t *testing.T) {
	r := newRig(t)
	r.ops.next = []byte("page-2")
	b := r.browser()
	b.signIn(viewerSecret)
	p := b.get(Prefix + "customers?status=past_due&stage=overdue_1&risk_tier=low&min_days_past_due=7&exemption=manual_pay")
	mustContain(t, p, `href="/console/customers/acme"`, "Acme Ltd", `id="next-page"`, "page_token="+ops.EncodePageToken([]byte("page-2")), "exemption=manual_pay")
	if len(r.ops.lists) != 1 || r.ops.lists[0].Status != "past_due" || r.ops.lists[0].Stage != "overdue_1" || r.ops.lists[0].MinDaysPastDue != 7 || r.ops.lists[0].RiskTier != "low" ||
		r.ops.lists[0].Exemption != "manual_pay" {
		t.Errorf("filter sent: %+v", r.ops.lists)
	}
	p = b.get(Prefix + "customers?page_token=" + ops.EncodePageToken([]byte("page-2")))
	if string(r.ops.lists[1].PageToken) != "page-2" {
		t.Errorf("page token sent: %q", r.ops.lists[1].PageToken)
	}
	mustContain(t, p, "First page")
	for _, q := range []string{"status=bogus", "min_days_past_due=two", "page_token=mangled", "stage=Over%22", "exemption=all"} {
		if p := b.get(Prefix + "customers?" + q); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="page-error"`) {
			t.Errorf("%s: %d", q, p.status)
		}
	}
	if len(r.ops.lists) != 2 {
		t.Errorf("bad filters were sent: %+v", r.ops.lists[2:])
	}
	if p := b.get(Prefix + "customers?q=acme"); p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix+"customers/acme" {
		t.Errorf("search: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.get(Prefix + "customers/nobody"); p.status != http.StatusNotFound || !strings.Contains(p.body, "unknown customer") {
		t.Errorf("unknown customer: %d", p.status)
	}
}

// When Temporal or PostgreSQL is down the pages say so with a 503 and
// change nothing.
func TestBackendUnavailable(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(operatorSecret)
	r.ops.err = &ops.UnavailableError{Err: io.ErrUnexpectedEOF}
	for _, path := range []string{"customers/acme", "customers", "aging", "queue"} {
		if p := b.get(Prefix + path); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "Nothing was changed; try again") {
			t.Errorf("%s: %d", path, p.status)
		}
	}
}

func TestOnboard(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(operatorSecret)
	token := b.csrf(Prefix + "onboard")
	form := url.Values{"csrf": {token}, "customer_id": {"new-co"}, "name": {"New Co"}, "email": {"ap@new.test"}, "phone": {"+14155550100"},
		"country": {"us"}, "currency": {"usd"}, "locale": {"en"}, "policy": {"standard"}, "monthly_fee": {"99.90"}, "instrument": {"bank_transfer"}, "signup_ip": {"198.51.100.7"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("email", "not-an-address")
	p := b.post(Prefix+"onboard", bad)
	if p.status != http.StatusBadRequest || len(r.ops.onboards) != 0 {
		t.Fatalf("bad application: %d, %d onboarded", p.status, len(r.ops.onboards))
	}
	mustContain(t, p, "email", `value="New Co"`)
	p = b.post(Prefix+"onboard", form)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix+"customers/new-co?done=onboard" {
		t.Fatalf("onboard: %d %s", p.status, p.body)
	}
	if app := r.ops.onboards[0]; app.Plan.MonthlyFeeMinor != 9990 || app.Currency != "USD" || app.Country != "US" {
		t.Errorf("application: %+v", app)
	}
}

func TestAgingAndCollections(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.signIn(operatorSecret)
	p := b.get(Prefix + "aging")
	mustContain(t, p, "<svg", `class="bar b2"`, "$200.00", "31-60 days", `href="/console/aging.csv?"`)
	p = b.get(Prefix + "aging.csv?currency=usd")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") || !strings.Contains(p.header.Get("Content-Disposition"), "attachment") || !strings.Contains(p.body, "USD") {
		t.Errorf("aging csv: %d %v %s", p.status, p.header, p.body)
	}
	if p := b.get(Prefix + "aging?currency=dollars"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "ISO 4217") {
		t.Errorf("bad currency: %d", p.status)
	}
	token := b.csrf(Prefix + "collections")
	p = b.post(Prefix+"collections", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=export&batch=col-") {
		t.Fatalf("export: %d %s", p.status, p.header.Get("Location"))
	}
	p = b.get(p.header.Get("Location"))
	mustContain(t, p, "Export done", `class="latest"`)
	batch := r.ops.batches[0].BatchID
	p = b.get(Prefix + "collections/" + batch + ".csv")
	if p.status != http.StatusOK || p.body != collectionsCSV(batch) {
		t.Errorf("batch download: %d %q", p.status, p.body)
	}
	if p := b.post(Prefix+"collections", url.Values{"csrf": {token}}); !strings.Contains(p.header.Get("Location"), "done=nothing") {
		t.Errorf("second export: %s", p.header.Get("Location"))
	}
	if p := b.get(Prefix + "collections/col-unknown.csv"); p.status != http.StatusNotFound {
		t.Errorf("unknown batch: %d", p.status)
	}
	// A batch holds contact details: viewers see the list, not the file.
	v := r.browser()
	v.signIn(viewerSecret)
	p = v.get(Prefix + "collections")
	mustContain(t, p, batch, "Operators only")
	mustNotContain(t, p, batch+".csv")
	if p := v.get(Prefix + "collections/" + batch + ".csv"); p.status != http.StatusForbidden || strings.Contains(p.body, "acme,") {
		t.Errorf("viewer download: %d", p.status)
	}
}

func TestWorkQueuePage(t *testing.T) {
	r := newRig(t)
	now := r.clock.now()
	r.ops.items = []ops.WorkItem{
		{Kind: ops.WorkProviderNotice, CustomerID: "acme", Due: now.Add(-time.Hour), Ref: "ABUSE-7", Detail: "ddos from vm-2"},
		{Kind: ops.WorkPromiseDue, CustomerID: "acme", InvoiceID: "inv-1", Due: now.Add(48 * time.Hour), Detail: "promised to pay", AmountMinor: 12500, Currency: "USD"},
	}
	b := r.browser()
	b.signIn(viewerSecret)
	p := b.get(Prefix + "queue")
	mustContain(t, p, "Provider notice", "ABUSE-7", "Past deadline", "Promise due", "inv-1", "$125.00", `href="/console/customers/acme"`)
	if strings.Index(p.body, "ABUSE-7") > strings.Index(p.body, "inv-1") {
		t.Error("the queue is not in deadline order")
	}
}

// With the session database cut off, nobody is let in and nobody is signed
// out: pages answer 503 and actions change nothing; once it is back the
// same session carries on.
func TestSessionDatabaseCut(t *testing.T) {
	dbURL, _ := pgtest.New(t)
	proxied, proxy := pgtest.Behind(t, dbURL)
	u, err := url.Parse(proxied)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r := newRigWith(t, db, tokenSpec, time.Second)
	b := r.browser()
	b.signIn(operatorSecret)
	token := b.csrf(Prefix + "customers/acme")
	other := r.browser()
	other.csrf(Prefix + "signin")

	// A hanging database: an answer within the session timeout.
	proxy.Cut(faults.Blackhole)
	start := time.Now()
	if p := b.get(Prefix + "customers/acme"); p.status != http.StatusServiceUnavailable || time.Since(start) > 5*time.Second {
		t.Errorf("page with the database hanging: %d after %s", p.status, time.Since(start))
	}
	proxy.Cut(faults.Reset)
	if p := b.get(Prefix + "customers/acme"); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "Nothing was changed") {
		t.Errorf("page during the cut: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.post(Prefix+"customers/acme/suspend", url.Values{"csrf": {token}, "reason": {"cut"}}); p.status != http.StatusServiceUnavailable {
		t.Errorf("action during the cut: %d", p.status)
	}
	if p := other.post(Prefix+"signin", url.Values{"csrf": {other.cookie(signinCookie).Value}, "token": {operatorSecret}}); p.status != http.StatusServiceUnavailable || other.cookie(sessionCookie) != nil {
		t.Errorf("sign-in during the cut: %d", p.status)
	}
	if got := r.ops.got(); len(got) != 0 {
		t.Errorf("an action ran without a session check: %+v", got)
	}
	if got := proxy.Stats(); got.Reset == 0 {
		t.Errorf("the cut reset nothing: %+v", got)
	}

	proxy.Restore()
	if p := b.get(Prefix + "customers/acme"); p.status != http.StatusOK {
		t.Errorf("after the cut: %d", p.status)
	}
	if p := b.post(Prefix+"customers/acme/suspend", url.Values{"csrf": {token}, "reason": {"after"}}); p.status != http.StatusSeeOther || len(r.ops.got()) != 1 {
		t.Errorf("action after the cut: %d", p.status)
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -10000: "-10,000"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

// Staff see the endpoints and the failed deliveries; operators send them
// again, one or an endpoint's all; viewers see but cannot.
func TestWebhooksPage(t *testing.T) {
	r := newRig(t)
	status := int64(503)
	r.ops.endpoints = []store.Endpoint{{ID: "we_0123456789abcdef", URL: "https://crm.example.com/hooks", EventTypes: []string{"customer.suspended"}, Active: true}}
	r.ops.deliveries = []store.Delivery{
		{ID: 7, EndpointID: "we_0123456789abcdef", EventID: "evt_1", EventType: "customer.suspended", CustomerID: "acme", Status: store.DeliveryFailed, Attempts: 12, LastStatus: &status, LastError: "<b>down</b>"},
		{ID: 8, EndpointID: "we_0123456789abcdef", EventID: "evt_2", EventType: "invoice.paid", CustomerID: "acme", Status: store.DeliveryFailed, Attempts: 12},
		{ID: 9, EndpointID: "we_0123456789abcdef", EventID: "evt_3", EventType: "invoice.issued", CustomerID: "acme", Status: store.DeliveryPending, Attempts: 1},
	}
	b := r.browser()
	b.signIn(operatorSecret)
	p := b.get(Prefix + "webhooks")
	mustContain(t, p, "https://crm.example.com/hooks", "customer.suspended", "HTTP 503", "&lt;b&gt;down&lt;/b&gt;", `id="replay-7"`, `id="replay-8"`, "Send failed again")
	mustNotContain(t, p, "evt_3", "<b>down</b>") // failed ones by default; receiver text escaped
	if p := b.get(Prefix + "webhooks?status=&endpoint=we_0123456789abcdef"); !strings.Contains(p.body, "evt_3") {
		t.Errorf("all statuses do not show the pending delivery: %d %s", p.status, p.body)
	}
	if p := b.get(Prefix + "webhooks?status=lost"); p.status != http.StatusBadRequest {
		t.Errorf("unknown status: %d", p.status)
	}
	token := b.csrf(Prefix + "webhooks")
	p = b.post(Prefix+"webhooks/deliveries/7/replay", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=replayed") {
		t.Fatalf("replay: %d %s", p.status, p.header.Get("Location"))
	}
	mustContain(t, b.get(p.header.Get("Location")), "due again now", "evt_1")
	if p := b.post(Prefix+"webhooks/deliveries/x/replay", url.Values{"csrf": {token}}); p.status != http.StatusBadRequest {
		t.Errorf("bad delivery ID: %d", p.status)
	}
	if p := b.post(Prefix+"webhooks/deliveries/99/replay", url.Values{"csrf": {token}}); p.status != http.StatusNotFound {
		t.Errorf("unknown delivery: %d", p.status)
	}
	p = b.post(Prefix+"webhooks/we_0123456789abcdef/replay-failed", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "n=1") {
		t.Fatalf("replay failed: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.post(Prefix+"webhooks/deliveries/8/replay", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("replay without the CSRF token: %d", p.status)
	}
	if got := r.ops.replayed; len(got) != 2 || got[0] != "delivery 7" || got[1] != "failed we_0123456789abcdef" {
		t.Errorf("replayed %v", got)
	}

	v := r.browser()
	v.signIn(viewerSecret)
	p = v.get(Prefix + "webhooks?status=")
	mustContain(t, p, "evt_1")
	mustNotContain(t, p, `id="replay-`, "Send failed again")
	if p := v.post(Prefix+"webhooks/deliveries/7/replay", url.Values{"csrf": {v.csrf(Prefix + "webhooks")}}); p.status != http.StatusForbidden {
		t.Errorf("viewer replay: %d", p.status)
	}
	if len(r.ops.replayed) != 2 {
		t.Errorf("a viewer replayed: %v", r.ops.replayed)
	}
}

// The customer page shows the subscriptions (escaped) and the exemptions,
// and a refused subscription action shows the validator's message and
// sends nothing.
func TestSubscriptionsAndExemptionsShown(t *testing.T) {
	r := newRig(t)
	r.ops.status.Subscriptions = []account.Subscription{
		{ID: "seats", Product: `<i>Office</i> seats`, Quantity: 5, NextQuantity: 8, UnitPriceMinor: 2000, IntervalPeriods: 1, Status: account.SubscriptionSuspended,
			SuspendedFor: []string{account.ReasonNonPayment}},
		{ID: "backup", Product: "Backup", Quantity: 1, UnitPriceMinor: 120000, IntervalPeriods: 12, Status: account.SubscriptionActive,
			PaidThrough: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	r.ops.status.Exemptions = []account.ExemptionState{{Exemption: account.ExemptManualPay, Reason: "pays by transfer", Actor: "kim"}}
	b := r.browser()
	b.signIn(operatorSecret)
	p := b.get(Prefix + "customers/acme")
	mustContain(t, p, `id="subscriptions"`, "&lt;i&gt;Office&lt;/i&gt; seats", "5 → 8", "non_payment", `id="exemptions"`, "Manual payment (no automatic charge)", "pays by transfer")
	mustNotContain(t, p, "<i>Office</i>")
	p = b.post(Prefix+"customers/acme/quantity", url.Values{"csrf": {b.csrf(Prefix + "customers/acme")}, "subscription_id": {"seats"}, "quantity": {"0"}})
	mustContain(t, p, "quantity 0 must be between 1 and")
	if got := r.ops.got(); len(got) != 0 {
		t.Errorf("a refused quantity was sent: %+v", got)
	}
}
