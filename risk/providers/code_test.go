package providers

import (
	"regexp"
	"testing"
)

func TestNewCode(t *testing.T) {
	six := regexp.MustCompile(`^[0-9]{6}$`)
	seen := map[string]bool{}
	for range 200 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !six.MatchString(c) {
			t.Fatalf("code %q is not 6 digits", c)
		}
		seen[c] = true
	}
	// 200 draws from a million: a repeat is possible, a handful is not.
	if len(seen) < 190 {
		t.Errorf("only %d distinct codes in 200", len(seen))
	}
}
