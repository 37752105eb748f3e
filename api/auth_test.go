package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseTokens(t *testing.T) {
	toks, err := ParseTokens(" billing-app:operator:aaaaaaaaaaaaaaaa:with:colons , dash@ops:viewer:bbbbbbbbbbbbbbbb,")
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 2 {
		t.Fatalf("%d tokens", toks.Len())
	}
	if tok, ok := toks.lookup("aaaaaaaaaaaaaaaa:with:colons"); !ok || tok.Name != "billing-app" || tok.Role != RoleOperator {
		t.Errorf("lookup = %v %v", tok, ok)
	}
	if tok, ok := toks.lookup("bbbbbbbbbbbbbbbb"); !ok || tok.Name != "dash@ops" || tok.Role != RoleViewer {
		t.Errorf("lookup = %v %v", tok, ok)
	}
	for _, s := range []string{"", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbb"} {
		if _, ok := toks.lookup(s); ok {
			t.Errorf("lookup(%q) matched", s)
		}
	}
	// Printing a token never shows its secret.
	all := fmt.Sprintf("%v %+v %#v %s", toks, toks, toks, toks.list[0])
	if strings.Contains(all, "aaaaaaaa") {
		t.Errorf("secret printed: %s", all)
	}
}

func TestParseTokensErrors(t *testing.T) {
	const secret = "s3cr3t-s3cr3t-s3cr3t"
	for _, tc := range []struct{ in, want string }{
		{"", "has no tokens"},
		{" , ", "has no tokens"},
		{secret, "entry 1: want name:role:token"},
		{"a:operator:" + secret + ",b:viewer", "entry 2: want name:role:token"},
		{"a:admin:" + secret, `role "admin" must be viewer or operator`},
		{"a:viewer:short-" + "x", "shorter than 16 characters"},
		{"a b:viewer:" + secret, `name "a b" must be`},
		{":viewer:" + secret, `name "" must be`},
		{"a:viewer:" + secret + ",a:operator:" + secret + "-2", `name "a" is used twice`},
		{"a:viewer:" + secret + ",b:operator:" + secret, "entry 2 (b): same token as a"},
	} {
		_, err := ParseTokens(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTokens(%q) = %v, want %q", tc.in, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), TokensEnv) && tc.want != "" {
			t.Errorf("error %q does not name %s", err, TokensEnv)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the secret", err)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		role   Role
		method string
		ok     bool
	}{
		{RoleViewer, "GET", true}, {RoleViewer, "HEAD", true}, {RoleViewer, "POST", false}, {RoleViewer, "DELETE", false},
		{RoleOperator, "GET", true}, {RoleOperator, "POST", true}, {Role(""), "GET", true}, {Role(""), "POST", false},
	} {
		if got := tc.role.allows(tc.method); got != tc.ok {
			t.Errorf("%q allows %s = %v", tc.role, tc.method, got)
		}
	}
}

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := newHarness(t)
	go func() { done <- Serve(ctx, ln, h.handler, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}
