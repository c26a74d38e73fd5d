package repos

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

// realApt parses the root's sources with the real apt (no network: index
// targets without release info) and returns the enabled repositories and
// apt's warnings and errors, e.g. "configured multiple times".
func realApt(t *testing.T, root *host.DirRoot) (enabled, complaints string) {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not installed")
	}
	lists := t.TempDir()
	if err := os.MkdirAll(lists+"/partial", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("apt-get",
		"-o", "Dir::Etc::SourceList="+root.Path(SourcesList),
		"-o", "Dir::Etc::SourceParts="+root.Path(SourcesDir),
		"-o", "Dir::State::Lists="+lists,
		"indextargets", "--no-release-info", "--format", "$(SITE) $(RELEASE) $(COMPONENT)")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("apt-get indextargets: %v: %s", err, stderr.String())
	}
	seen := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if l != "" && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n"), stderr.String()
}

func TestRealAptAcceptsResult(t *testing.T) {
	for name, c := range map[string]struct {
		fs   map[string]string
		ceph string
		want []string
	}{
		"pve8": {pve8, "reef", []string{
			"http://download.proxmox.com/debian/pve bookworm pve-no-subscription",
			"http://download.proxmox.com/debian/ceph-reef bookworm no-subscription",
		}},
		"pve9": {pve9, "squid", []string{
			"http://download.proxmox.com/debian/pve trixie pve-no-subscription",
			"http://download.proxmox.com/debian/ceph-squid trixie no-subscription",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			root, _, _, env, m := world(t, c.fs, &seed.Repos{Ceph: c.ceph})
			// Not vacuous: the PVE 8 root plus a hand-written duplicate
			// makes apt complain before Phoenix runs.
			if name == "pve8" {
				testkit.Write(t, root, OwnList, "deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription\n")
				if _, complaints := realApt(t, root); !strings.Contains(complaints, "configured multiple times") {
					t.Errorf("apt did not see the duplicate: %q", complaints)
				}
			}
			testkit.Converge(t, m, env)
			enabled, complaints := realApt(t, root)
			if strings.TrimSpace(complaints) != "" {
				t.Errorf("apt complains: %s", complaints)
			}
			if strings.Contains(enabled, "enterprise.proxmox.com") {
				t.Errorf("enterprise still enabled:\n%s", enabled)
			}
			for _, w := range c.want {
				if !strings.Contains(enabled, w) {
					t.Errorf("%q not enabled:\n%s", w, enabled)
				}
			}
		})
	}
}
