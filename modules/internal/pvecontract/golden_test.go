package pvecontract

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenCallLogs walks every golden call log under modules/*/testdata
// and checks each Proxmox CLI call in it against the contract: a module
// whose recorded calls the real tools would refuse fails here, even where
// its own fake let the call through. Deprecated options count as
// violations (CheckStrict).
func TestGoldenCallLogs(t *testing.T) {
	files, err := filepath.Glob("../../*/testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := filepath.Glob("../../*/*/testdata/*")
	files = append(files, sub...)
	calls, violations, logs := 0, 0, 0
	perTool := map[string]int{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.IsDir() || fi.Size() > 4<<20 {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "$ "))
			if len(fields) == 0 {
				continue
			}
			tool := filepath.Base(fields[0])
			check := func(args []string) (*Call, error) { return CheckStrict(tool, args) }
			if tool == "pvesh" {
				check = CheckPvesh
			} else if _, ok := MustLoad().Tools[tool]; !ok {
				continue
			}
			found = true
			calls++
			perTool[tool]++
			if _, err := check(fields[1:]); err != nil {
				violations++
				t.Errorf("%s:%d: %s\n%v", f, n, sc.Text(), err)
			}
		}
		fh.Close()
		if found {
			logs++
		}
	}
	if calls == 0 {
		t.Fatal("no Proxmox calls found in any golden log: the walk is broken")
	}
	t.Logf("%d Proxmox calls in %d golden logs (%v): %d violations", calls, logs, perTool, violations)
}
