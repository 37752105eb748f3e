package risk

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// DomainKind classifies the domain of an email address.
type DomainKind string

// Domain kinds.
const (
	DomainBusiness   DomainKind = "business"   // anything not listed
	DomainFree       DomainKind = "free"       // free webmail (gmail.com, ...)
	DomainDisposable DomainKind = "disposable" // throwaway inboxes
)

// EmailDomain returns the lower-cased domain of an address and its kind.
// A disposable domain also matches its subdomains (x.mailinator.com); free
// mail matches exactly.
func (c Config) EmailDomain(email string) (string, DomainKind) {
	domain := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	for d := domain; d != ""; {
		if c.Email.Disposable[d] {
			return domain, DomainDisposable
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	if c.Email.FreeMail[domain] {
		return domain, DomainFree
	}
	return domain, DomainBusiness
}

// ParseDomainList reads one domain per line. '#' starts a comment (whole
// line or after the domain); blank lines are ignored; domains are
// lower-cased. A bad line is refused with its number.
func ParseDomainList(name string, r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.ToLower(strings.TrimSpace(line))
		if line == "" {
			continue
		}
		if !domainPattern.MatchString(line) {
			return nil, fmt.Errorf("domain list %s line %d: %q is not a domain name", name, n, line)
		}
		set[line] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("domain list %s: %w", name, err)
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("domain list %s: no domains", name)
	}
	return set, nil
}
