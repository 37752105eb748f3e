package providers

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// NewCode returns a uniformly random 6-digit verification code from
// crypto/rand, with leading zeros kept ("004217"). It lives here, not in
// package risk, because it reads a random source.
func NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("verification code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}
