package risk

import (
	"strings"
	"testing"
)

func TestEmailDomain(t *testing.T) {
	cfg := defaultConfig(t)
	cases := map[string]struct {
		domain string
		kind   DomainKind
	}{
		"billing@acme.example":           {"acme.example", DomainBusiness},
		"x@mailinator.com":               {"mailinator.com", DomainDisposable},
		"x@MAILINATOR.com":               {"mailinator.com", DomainDisposable},
		"x@inbox.mailinator.com":         {"inbox.mailinator.com", DomainDisposable},
		"x@yopmail.com":                  {"yopmail.com", DomainDisposable},
		"x@guerrillamail.com":            {"guerrillamail.com", DomainDisposable},
		"x@10minutemail.com":             {"10minutemail.com", DomainDisposable},
		"x@notmailinator.com.example":    {"notmailinator.com.example", DomainBusiness}, // suffix, not parent
		"x@gmail.com":                    {"gmail.com", DomainFree},
		"x@Gmail.Com":                    {"gmail.com", DomainFree},
		"x@mail.gmail.com":               {"mail.gmail.com", DomainBusiness}, // free mail matches exactly
		"x@naver.com":                    {"naver.com", DomainFree},
		"\"odd@name\"@customers.example": {"customers.example", DomainBusiness},
	}
	for email, want := range cases {
		d, k := cfg.EmailDomain(email)
		if d != want.domain || k != want.kind {
			t.Errorf("EmailDomain(%q) = %s %s, want %s %s", email, d, k, want.domain, want.kind)
		}
	}
}

func TestShippedDisposableList(t *testing.T) {
	set, err := ParseDomainList("disposable_domains.txt", strings.NewReader(string(embeddedDisposable)))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) < 100 {
		t.Errorf("%d domains, want at least 100", len(set))
	}
	for _, d := range []string{"mailinator.com", "guerrillamail.com", "yopmail.com", "sharklasers.com", "trashmail.com", "maildrop.cc"} {
		if !set[d] {
			t.Errorf("%s missing", d)
		}
	}
	cfg := defaultConfig(t)
	for d := range cfg.Email.FreeMail {
		if set[d] {
			t.Errorf("%s is both free mail and disposable", d)
		}
	}
}

func TestParseDomainList(t *testing.T) {
	set, err := ParseDomainList("l", strings.NewReader("# header\n\nOne.Example  # trailing comment\n  two.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 || !set["one.example"] || !set["two.example"] {
		t.Errorf("got %v", set)
	}
	for in, want := range map[string]string{
		"a.example\nnot a domain\n": "l line 2:",
		"# only\n\n":                "no domains",
		"a.example\n-bad.example\n": "l line 2:",
		"localhost\n":               "l line 1:",
	} {
		if _, err := ParseDomainList("l", strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}
