package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/example/dunning/api"
	"github.com/example/dunning/internal/bounded"
)

// Cookies and the form field of the CSRF token.
const (
	sessionCookie = "dunning_console"
	// signinCookie carries the sign-in form's CSRF token before there is
	// a session (double submit: the form must repeat it).
	signinCookie = "dunning_console_signin"
	csrfField    = "csrf"
)

// errSessionsDown is the session store failing: the console cannot tell
// who is signed in, so it lets nobody in and signs nobody out.
var errSessionsDown = errors.New("console sessions unavailable")

// session reads the live session of the request's cookie. A session whose
// token is no longer configured, or has another role now, has ended.
func (s *server) session(r *http.Request) (Session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return Session{}, ErrNoSession
	}
	sess, err := withTimeout(r.Context(), s.SessionTimeout, func(ctx context.Context) (Session, error) {
		return s.Sessions.Touch(ctx, hashID(c.Value), s.Now(), s.IdleTimeout)
	})
	if errors.Is(err, ErrNoSession) {
		return Session{}, err
	}
	if err != nil {
		return Session{}, errors.Join(errSessionsDown, err)
	}
	if tok, ok := s.Tokens.Named(sess.Actor); !ok || tok.Role != sess.Role {
		_, _ = withTimeout(r.Context(), s.SessionTimeout, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, s.Sessions.Delete(ctx, hashID(c.Value))
		})
		return Session{}, ErrNoSession
	}
	return sess, nil
}

// withTimeout runs f with a deadline and returns by it even when f does
// not (package bounded says why).
func withTimeout[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return bounded.Run(ctx, f)
}

// secure says whether cookies get the Secure attribute: the console is
// reached over HTTPS.
func (s *server) secure(r *http.Request) bool {
	if s.public != nil {
		return s.public.Scheme == "https"
	}
	return r.TLS != nil
}

func (s *server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// checkOrigin refuses a POST that does not come from the console's own
// origin: by Origin, which browsers send with every form POST, else by
// Referer; with neither it is refused too.
func (s *server) checkOrigin(r *http.Request) error {
	want := s.origin(r)
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		ref, err := url.Parse(r.Referer())
		if err != nil || ref.Host == "" {
			return &pageError{http.StatusForbidden, "error.origin", ""}
		}
		from = ref.Scheme + "://" + ref.Host
	}
	if !strings.EqualFold(from, want) {
		return &pageError{http.StatusForbidden, "error.origin", ""}
	}
	return nil
}

// origin is the console's origin: PublicURL, else the request's own.
func (s *server) origin(r *http.Request) string {
	if s.public != nil {
		return s.public.Scheme + "://" + s.public.Host
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sameToken compares CSRF tokens in constant time.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// clientAddr is the address failed sign-ins are counted by.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signinForm shows the sign-in form with a fresh CSRF token in a cookie
// and the form.
func (s *server) signinForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	token := newSecret()
	s.setCookie(w, r, signinCookie, token, time.Hour)
	v := s.view(r, rc, "signin.title")
	v.CSRF = token
	v.Data = signinData{Next: safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("bye") != "" {
		v.Flash = rc.lang.T("signin.signed_out")
	}
	s.render(w, http.StatusOK, "signin.html", v)
	return nil
}

type signinData struct{ Next string }

// signin checks the form's CSRF token against its cookie and the pasted
// API token against DUNNING_API_TOKENS, then starts a session.
func (s *server) signin(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return &pageError{http.StatusBadRequest, "error.bad_form", ""}
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !sameToken(r.PostForm.Get(csrfField), c.Value) {
		return &pageError{http.StatusForbidden, "error.csrf", ""}
	}
	now, addr := s.Now(), clientAddr(r)
	next := safeNext(r.PostForm.Get("next"))
	again := func(status int, key string) error {
		v := s.view(r, rc, "signin.title")
		v.CSRF = c.Value
		v.Error = rc.lang.T(key)
		v.Data = signinData{Next: next}
		s.render(w, status, "signin.html", v)
		return nil
	}
	if s.limiter.blocked(addr, now) {
		return again(http.StatusTooManyRequests, "signin.too_many")
	}
	tok, ok := s.Tokens.Lookup(strings.TrimSpace(r.PostForm.Get("token")))
	if !ok {
		s.limiter.add(addr, now)
		s.Logger.Warn("console: failed sign-in", "addr", addr)
		return again(http.StatusUnauthorized, "signin.unknown_token")
	}
	id := newSecret()
	sess := Session{Actor: tok.Name, Role: tok.Role, CSRF: newSecret(), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.MaxAge)}
	if _, err := withTimeout(r.Context(), s.SessionTimeout, func(ctx context.Context) (struct{}, error) {
		if err := s.Sessions.Create(ctx, hashID(id), sess); err != nil {
			return struct{}{}, err
		}
		_ = s.Sessions.Purge(ctx, now, s.IdleTimeout) // housekeeping; a failure only leaves rows
		return struct{}{}, nil
	}); err != nil {
		return errors.Join(errSessionsDown, err)
	}
	s.limiter.clear(addr)
	s.clearCookie(w, r, signinCookie)
	s.setCookie(w, r, sessionCookie, id, s.MaxAge)
	s.Logger.Info("console: signed in", "actor", tok.Name, "role", string(tok.Role))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// signout ends the session everywhere (the row is deleted) and clears the
// cookie.
func (s *server) signout(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	c, _ := r.Cookie(sessionCookie)
	if _, err := withTimeout(r.Context(), s.SessionTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.Sessions.Delete(ctx, hashID(c.Value))
	}); err != nil {
		return errors.Join(errSessionsDown, err)
	}
	s.clearCookie(w, r, sessionCookie)
	s.Logger.Info("console: signed out", "actor", rc.sess.Actor)
	http.Redirect(w, r, Prefix+"signin?bye=1", http.StatusSeeOther)
	return nil
}

// safeNext is a path inside the console to go back to, never another
// site: anything else is the work queue.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(path.Clean(u.Path)+"/", Prefix) ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "queue"
	}
	return u.RequestURI()
}

// switchLang sets the language cookie and goes back where the switch was.
func (s *server) switchLang(w http.ResponseWriter, r *http.Request) {
	if l, ok := parseLang(r.URL.Query().Get("to")); ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: Prefix, MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, safeNext(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// roleName is the role as the console shows it.
func roleName(l Lang, r api.Role) string { return l.Tf("role.", string(r)) }
