package zfs

import "testing"

func TestEscapeUnit(t *testing.T) {
	for in, want := range map[string]string{"tank": "tank", "my-pool": `my\x2dpool`, "a.b_c:d": "a.b_c:d", ".x": `\x2ex`} {
		if got := escapeUnit(in); got != want {
			t.Errorf("escapeUnit(%q) = %q, want %q", in, got, want)
		}
	}
}
