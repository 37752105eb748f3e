package risk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HashCode hashes a verification code with a per-customer salt (HMAC-SHA256,
// hex). The workflow keeps only the hash, so its history never holds a code
// that could be replayed.
func HashCode(code, salt string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckCode reports whether attempt (surrounding spaces ignored) is the code
// behind hash, comparing in constant time.
func CheckCode(hash, salt, attempt string) bool {
	want, err := hex.DecodeString(hash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(strings.TrimSpace(attempt)))
	return hmac.Equal(want, m.Sum(nil))
}
