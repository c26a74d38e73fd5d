package all_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/modules/all"
)

// TestEveryModuleHasTheContract is the table over all.Default(): every
// module's package runs the module contract (testkit.Contract: a dry run
// only reads, Check lists exactly what Apply changes, Apply converges)
// and the fault harness (fault.Check). The worlds are the packages' own
// fakes, so the tests live there; this keeps the list complete.
func TestEveryModuleHasTheContract(t *testing.T) {
	dirs := map[string]string{"host": "node"}
	// Known gaps, each with its reason; a listed module that gains the
	// test must leave this list.
	noFault := map[string]string{}
	for _, m := range all.Default() {
		dir := dirs[m.Name()]
		if dir == "" {
			dir = m.Name()
		}
		var src strings.Builder
		files, _ := filepath.Glob(filepath.Join("..", dir, "*_test.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
		s := src.String()
		if !strings.Contains(s, "testkit.Contract(") {
			t.Errorf("%s (modules/%s): no testkit.Contract test", m.Name(), dir)
		}
		switch why, gap := noFault[m.Name()]; {
		case gap && strings.Contains(s, "fault.Check("):
			t.Errorf("%s has a fault.Check test now: remove it from noFault", m.Name())
		case gap:
			t.Logf("%s: no fault test yet: %s", m.Name(), why)
		case !strings.Contains(s, "fault.Check("):
			t.Errorf("%s (modules/%s): no fault.Check test", m.Name(), dir)
		}
	}
}
