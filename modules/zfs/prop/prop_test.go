package prop

import "testing"

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ p, in, want string }{
		{"recordsize", "1M", "1048576"},
		{"recordsize", "128K", "131072"},
		{"quota", "none", "0"},
		{"quota", "1.5G", "1610612736"},
		{"quota", "100GiB", "107374182400"},
		{"refquota", "4096", "4096"},
		{"compression", "lz4", "lz4"},
		{"atime", "OFF", "off"},
		{"mountpoint", "/srv/a", "/srv/a"},
	} {
		got, err := Normalize(tc.p, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%s, %s) = %q, %v; want %q", tc.p, tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "G", "-1G", "12Q", "abc"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
}
