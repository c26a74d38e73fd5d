package seed

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden reports under testdata/seeds/invalid")

const seedsDir = "../testdata/seeds"

// seedFiles lists the seeds in testdata/seeds/<kind> (yaml, yml, json).
func seedFiles(t testing.TB, kind string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		m, err := filepath.Glob(filepath.Join(seedsDir, kind, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatalf("no seeds in %s/%s", seedsDir, kind)
	}
	return out
}

func loadPath(t testing.TB, path string) (*Seed, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Load(filepath.Base(path), data)
}

func TestValidSeeds(t *testing.T) {
	for _, path := range seedFiles(t, "valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := loadPath(t, path)
			if err != nil {
				t.Fatalf("valid seed rejected:\n%v", err)
			}
			if s == nil || s.Version != 1 {
				t.Fatalf("Load returned %+v", s)
			}
		})
	}
}

// golden is one invalid case's expected outcome: whether the JSON Schema
// can express the rule (header line) and the exact report.
type golden struct {
	schema string // "rejects" or "gap: why"
	report string
}

func goldenPath(seedPath string) string {
	return strings.TrimSuffix(seedPath, filepath.Ext(seedPath)) + ".golden"
}

func readGolden(t testing.TB, seedPath string) golden {
	t.Helper()
	b, err := os.ReadFile(goldenPath(seedPath))
	if err != nil {
		t.Fatalf("%v (run go test ./seed -run TestInvalidSeeds -update)", err)
	}
	head, rest, _ := strings.Cut(string(b), "\n")
	schema, ok := strings.CutPrefix(head, "# schema: ")
	if !ok || !(schema == "rejects" || strings.HasPrefix(schema, "gap: ")) {
		t.Fatalf("%s: first line must be `# schema: rejects` or `# schema: gap: WHY`", goldenPath(seedPath))
	}
	return golden{schema: schema, report: rest}
}

func TestInvalidSeeds(t *testing.T) {
	files := seedFiles(t, "invalid")
	if len(files) < 40 {
		t.Errorf("only %d invalid cases; the format needs at least 40", len(files))
	}
	goldens, _ := filepath.Glob(filepath.Join(seedsDir, "invalid", "*.golden"))
	for _, g := range goldens {
		if !slices.ContainsFunc(files, func(f string) bool { return goldenPath(f) == g }) {
			t.Errorf("%s has no seed", g)
		}
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := loadPath(t, path)
			var rep *Report
			if !errors.As(err, &rep) {
				t.Fatalf("want a *Report, got seed=%v err=%v", s != nil, err)
			}
			if s != nil {
				t.Error("an invalid seed must not come back as a *Seed")
			}
			got := rep.Error() + "\n"
			if *update {
				schema := "rejects"
				if old, err := os.ReadFile(goldenPath(path)); err == nil {
					if h, _, _ := strings.Cut(string(old), "\n"); strings.HasPrefix(h, "# schema: ") {
						schema = strings.TrimPrefix(h, "# schema: ")
					}
				}
				if err := os.WriteFile(goldenPath(path), []byte("# schema: "+schema+"\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := readGolden(t, path).report; got != want {
				t.Errorf("report differs from %s\n--- got\n%s--- want\n%s", goldenPath(path), got, want)
			}
		})
	}
}

// TestReportSorted checks that problems come out in position order, all at
// once, whatever order the rules ran in.
func TestReportSorted(t *testing.T) {
	for _, path := range seedFiles(t, "invalid") {
		_, err := loadPath(t, path)
		var rep *Report
		if !errors.As(err, &rep) || len(rep.Problems) == 0 {
			t.Fatalf("%s: no report", path)
		}
		for i := 1; i < len(rep.Problems); i++ {
			a, b := rep.Problems[i-1], rep.Problems[i]
			if a.Line > b.Line || a.Line == b.Line && a.Col > b.Col {
				t.Errorf("%s: problems out of order: %v before %v", path, a, b)
			}
		}
	}
}
