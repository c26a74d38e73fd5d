package network

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// Warnings of Debian's upstream ifupdown2 that Proxmox's own ifupdown2
// (which Proxmox hosts run) does not give for what its GUI writes.
var proxmoxAccepted = []string{
	`bridge-ports: invalid value "none"`, // PVE writes "bridge-ports none"
	"bridge inherits mtu from its ports", // advice, not an error
}

// The real ifupdown2 syntax check (`ifup -s`) on what the module writes.
// ifupdown2 conflicts with ifupdown and would take over this machine's
// networking if installed, so the test runs it from its extracted .deb:
//
//	apt-get download ifupdown2 && dpkg -x ifupdown2_*.deb DIR
//	PHOENIX_IFUPDOWN2=DIR go test ./modules/network -run Ifupdown2
func TestIfupdown2SyntaxCheck(t *testing.T) {
	dir := os.Getenv("PHOENIX_IFUPDOWN2")
	if dir == "" {
		t.Skip("PHOENIX_IFUPDOWN2 not set (an ifupdown2 .deb extracted with dpkg -x)")
	}
	share := filepath.Join(dir, "usr/share")
	conf := filepath.Join(dir, "etc/network/ifupdown2")
	check := func(file string) (string, error) {
		// A private lock and state directory per check (see the script).
		out, err := exec.Command("python3", "testdata/ifupdown2.py", share, conf, t.TempDir(), "ifup", "-s", "-i", file, "-a").CombinedOutput()
		return string(out), err
	}
	// Not vacuous: a bad value is reported.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("auto vmbr9\niface vmbr9 inet manual\n\tbridge-ports eno9\n\tbridge-vlan-aware maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := check(bad); !strings.Contains(out, `bridge-vlan-aware: invalid value "maybe"`) {
		t.Fatalf("the checker does not check: %s", out)
	}

	root, _, _, env := world(t)
	if _, err := modules.Apply(context.Background(), quick(), env); err != nil {
		t.Fatal(err)
	}
	// The file as ifupdown2 reads it, and as the Proxmox GUI rewrites it.
	main := testkit.Read(t, root, Interfaces)
	for name, content := range map[string]string{"phoenix": main, "gui": guiRewrite(main, []string{"eno1", "eno2"}, nil)} {
		file := filepath.Join(t.TempDir(), "interfaces")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := check(file)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			ok := line == ""
			for _, a := range proxmoxAccepted {
				ok = ok || strings.Contains(line, a)
			}
			if !ok {
				t.Errorf("ifupdown2 (%s): %s", name, line)
			}
		}
	}
}
