package seed

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader arbitrary bytes, seeded with every test seed.
// Whatever the input, Load must not panic or hang, must return exactly one
// of a seed or a *Report, and a report must be non-empty and sorted.
func FuzzLoad(f *testing.F) {
	for _, kind := range []string{"valid", "invalid"} {
		for _, pat := range []string{"*.yaml", "*.json"} {
			files, _ := filepath.Glob(filepath.Join(seedsDir, kind, pat))
			for _, p := range files {
				if b, err := os.ReadFile(p); err == nil {
					f.Add(filepath.Base(p), b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		s, err := Load(name, data)
		if (s == nil) == (err == nil) {
			t.Fatalf("Load returned seed=%v err=%v", s != nil, err)
		}
		if err == nil {
			if s.Version != Version {
				t.Fatalf("accepted version %d", s.Version)
			}
			for _, sec := range Sections {
				SectionDigest(s, sec)
			}
			return
		}
		var rep *Report
		if !errors.As(err, &rep) {
			t.Fatalf("error is %T, want *Report", err)
		}
		if len(rep.Problems) == 0 {
			t.Fatal("empty report")
		}
		for i, p := range rep.Problems {
			if p.File != name || p.Msg == "" || strings.Contains(p.Msg, "\x00") {
				t.Fatalf("bad problem %+v", p)
			}
			if i > 0 {
				q := rep.Problems[i-1]
				if q.Line > p.Line || q.Line == p.Line && q.Col > p.Col {
					t.Fatalf("unsorted: %v before %v", q, p)
				}
			}
		}
	})
}
