package modules

import "testing"

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"/srv/share", "/srv/share", true},
		{"/srv/share/", "/srv/share", true},
		{"/srv/share/sub", "/srv/share", true},
		{"/srv", "/srv/share", true},
		{"/", "/srv", true},
		{"/srv/share2", "/srv/share", false},
		{"/srv/a", "/srv/b", false},
		{"/home", "/homes/x", false},
	} {
		if got := Overlap(c.a, c.b); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
