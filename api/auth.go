package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// TokensEnv holds the bearer tokens (config.Config.APITokens):
// comma-separated name:role:token entries, e.g.
// "billing-app:operator:<secret>,dashboard:viewer:<secret>".
const TokensEnv = "DUNNING_API_TOKENS"

// Role is what a token may do.
type Role string

// Roles.
const (
	RoleViewer   Role = "viewer"   // GET only
	RoleOperator Role = "operator" // everything
)

// allows says whether the role may use the method.
func (r Role) allows(method string) bool {
	return r == RoleOperator || method == http.MethodGet || method == http.MethodHead
}

// MinTokenLength is the shortest secret accepted, against guessable tokens.
const MinTokenLength = 16

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

// Token is one configured caller. Its Name is the actor recorded in the
// audit log for what it does. Only a hash of the secret is kept, so that a
// Token printed or logged by mistake gives nothing away.
type Token struct {
	Name string
	Role Role
	hash [sha256.Size]byte
}

// String never shows the secret.
func (t Token) String() string { return t.Name + ":" + string(t.Role) }

// Tokens is the set of accepted bearer tokens.
type Tokens struct{ list []Token }

// Len is the number of tokens.
func (t Tokens) Len() int { return len(t.list) }

// NewToken makes a token from its parts, checked as ParseTokens checks them.
func NewToken(name string, role Role, secret string) (Token, error) {
	if !tokenName.MatchString(name) {
		return Token{}, fmt.Errorf("name %q must be 1-64 letters, digits, '.', '_', '@' or '-'", name)
	}
	if role != RoleViewer && role != RoleOperator {
		return Token{}, fmt.Errorf("%s: role %q must be viewer or operator", name, role)
	}
	if len(secret) < MinTokenLength {
		return Token{}, fmt.Errorf("%s: token is shorter than %d characters", name, MinTokenLength)
	}
	return Token{Name: name, Role: role, hash: sha256.Sum256([]byte(secret))}, nil
}

// ParseTokens reads the name:role:token list of DUNNING_API_TOKENS. Errors
// name the entry and never quote a secret.
func ParseTokens(s string) (Tokens, error) {
	var out Tokens
	names := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.SplitN(entry, ":", 3)
		if len(parts) != 3 {
			return Tokens{}, fmt.Errorf("%s entry %d: want name:role:token", TokensEnv, i+1)
		}
		tok, err := NewToken(strings.TrimSpace(parts[0]), Role(strings.TrimSpace(parts[1])), strings.TrimSpace(parts[2]))
		if err != nil {
			return Tokens{}, fmt.Errorf("%s entry %d: %w", TokensEnv, i+1, err)
		}
		if names[tok.Name] {
			return Tokens{}, fmt.Errorf("%s entry %d: name %q is used twice", TokensEnv, i+1, tok.Name)
		}
		for _, prev := range out.list {
			if prev.hash == tok.hash {
				return Tokens{}, fmt.Errorf("%s entry %d (%s): same token as %s", TokensEnv, i+1, tok.Name, prev.Name)
			}
		}
		names[tok.Name] = true
		out.list = append(out.list, tok)
	}
	if len(out.list) == 0 {
		return Tokens{}, fmt.Errorf("%s has no tokens: set name:role:token entries, e.g. billing-app:operator:<secret>", TokensEnv)
	}
	return out, nil
}

// lookup finds the token with this secret. It compares hashes in constant
// time and always looks at every token, so that timing tells nothing about
// which token or how much of one matched.
func (t Tokens) lookup(secret string) (Token, bool) {
	h := sha256.Sum256([]byte(secret))
	var found Token
	match := 0
	for _, tok := range t.list {
		if subtle.ConstantTimeCompare(h[:], tok.hash[:]) == 1 {
			found, match = tok, 1
		}
	}
	return found, match == 1
}

// bearer reads the Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

// Lookup finds the token with this secret, as bearer authentication does:
// for the staff console's sign-in.
func (t Tokens) Lookup(secret string) (Token, bool) { return t.lookup(secret) }

// Named finds a token by its name, so that a console session of a token
// that is no longer configured (or changed role) ends.
func (t Tokens) Named(name string) (Token, bool) {
	for _, tok := range t.list {
		if tok.Name == name {
			return tok, true
		}
	}
	return Token{}, false
}
