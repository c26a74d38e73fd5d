package samba

import (
	"encoding/hex"
	"testing"
)

// RFC 1320 test suite, and known NT hashes.
func TestMD4AndNTHash(t *testing.T) {
	for in, want := range map[string]string{
		"":    "31d6cfe0d16ae931b73c59d7e0c089c0",
		"a":   "bde52cb31de33e46245e05fbdbd6fb24",
		"abc": "a448017aaf21d8525fc10ae87aa6729d",
		"12345678901234567890123456789012345678901234567890123456789012345678901234567890": "e33b4ddc9c38f2199c3e7b164fcc0536",
	} {
		sum := md4([]byte(in))
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("md4(%q) = %s, want %s", in, got, want)
		}
	}
	if got := NTHash("password"); got != "8846F7EAEE8FB117AD06BDD830B7586C" {
		t.Errorf("NTHash(password) = %s", got)
	}
}
