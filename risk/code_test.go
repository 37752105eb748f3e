package risk

import "testing"

func TestHashAndCheckCode(t *testing.T) {
	h := HashCode("123456", "customer-acme")
	if h != HashCode("123456", "customer-acme") || len(h) != 64 {
		t.Fatalf("hash %q not stable hex SHA-256", h)
	}
	if h == HashCode("123456", "customer-other") || h == HashCode("123457", "customer-acme") {
		t.Fatal("salt or code does not change the hash")
	}
	if h == "123456" {
		t.Fatal("code kept in clear")
	}
	cases := map[string]bool{"123456": true, " 123456\n": true, "123457": false, "": false, "1234567": false, "12345": false}
	for attempt, want := range cases {
		if got := CheckCode(h, "customer-acme", attempt); got != want {
			t.Errorf("CheckCode(%q) = %v", attempt, got)
		}
	}
	if CheckCode(h, "customer-other", "123456") {
		t.Error("wrong salt accepted")
	}
	for _, bad := range []string{"", "zz", h[:10], h + "00"} {
		if CheckCode(bad, "customer-acme", "123456") {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}
