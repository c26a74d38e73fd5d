package nvidia

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPersistencedUnitVerifies runs the real systemd-analyze verify on the
// unit written for runfile installs. The daemon is not installed here, so
// its path is swapped for /bin/true: verify checks that ExecStart exists.
func TestPersistencedUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	p := filepath.Join(t.TempDir(), "nvidia-persistenced.service")
	unit := strings.ReplaceAll(persistencedUnit, "/usr/bin/nvidia-persistenced", "/bin/true")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
