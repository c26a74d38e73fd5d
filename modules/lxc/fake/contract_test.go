package fake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rejected is a call the real tool refuses, with a piece of the real
// message (from pve-common's JSONSchema/CLIHandler or the pve-container /
// pve-manager source cited in the fake).
type rejected struct {
	args, stderr string
}

// checkRejects runs every call and asserts that it fails with exit 255
// and the message, and that it changed nothing a later call could see.
func checkRejects(t *testing.T, tool tool, name string, calls []rejected) {
	t.Helper()
	if len(calls) < 10 {
		t.Fatalf("%s: only %d rejected calls; the issue asks for at least 10", name, len(calls))
	}
	for _, c := range calls {
		var out strings.Builder
		res := result("", tool(context.Background(), strings.Fields(c.args), nil, &out))
		if res.Code != 255 || !strings.Contains(res.Stderr, c.stderr) {
			t.Errorf("%s %s: exit %d, stderr %q; want 255 and %q", name, c.args, res.Code, res.Stderr, c.stderr)
		}
	}
	t.Logf("%s: %d rejected calls refused", name, len(calls))
}

// rejectWorld is a host with the template, CT 101 (a bind mount from
// /tank/a) and CT 102 (volumes only), and of the NVIDIA nodes only
// /dev/nvidia0.
func rejectWorld(t *testing.T) *PVE {
	p := &PVE{Dir: t.TempDir(), Root: t.TempDir(), Version: "8.2.4"}
	for _, d := range []string{"tank/a"} {
		if err := os.MkdirAll(filepath.Join(p.Root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(p.Root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Root, "dev/nvidia0"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	tmpl := "local:vztmpl/" + DefaultTemplate
	for _, args := range []string{
		"update",
		"download local " + DefaultTemplate,
	} {
		var out strings.Builder
		if err := p.Pveam(context.Background(), strings.Fields(args), nil, &out); err != nil {
			t.Fatalf("pveam %s: %v", args, err)
		}
	}
	for _, args := range []string{
		"create 101 " + tmpl + " --rootfs local-zfs:8 --mp0 /tank/a,mp=/a",
		"create 102 " + tmpl + " --rootfs local-zfs:8 --dev0 /dev/nvidia0",
	} {
		var out strings.Builder
		if err := p.Pct(context.Background(), strings.Fields(args), nil, &out); err != nil {
			t.Fatalf("pct %s: %v", args, err)
		}
	}
	return p
}

func TestPctRejects(t *testing.T) {
	p := rejectWorld(t)
	tmpl := "local:vztmpl/" + DefaultTemplate
	checkRejects(t, p.Pct, "pct", []rejected{
		// Unknown command and option (CLIHandler.pm:631; Getopt::Long).
		{"frobnicate 101", "ERROR: unknown command 'pct frobnicate'"},
		{"create 103 " + tmpl + " --bogus 1", "Unknown option: bogus\n400 unable to parse option"},
		// Indexed options have a fixed count: net0..net31.
		{"create 103 " + tmpl + " --net32 name=eth0", "Unknown option: net32"},
		// Enum, range, type and format checks (JSONSchema.pm check_prop).
		{"create 103 " + tmpl + " --arch sparc", "arch: value 'sparc' does not have a value in the enumeration"},
		{"create 103 " + tmpl + " --cores 9000", "cores: value must have a maximum value of 8192"},
		{"create 103 " + tmpl + " --memory 8", "memory: value must have a minimum value of 16"},
		{"create 99 " + tmpl, "vmid: invalid format - value does not look like a valid VM ID"},
		{"create 103 " + tmpl + " --unprivileged maybe", "400 unable to parse boolean option"},
		{"create 103 " + tmpl + " --hostname web_1", "hostname: invalid format - value does not look like a valid DNS name"},
		// Property strings, key by key.
		{"create 103 " + tmpl + " --net0 name=eth0,colour=red", "net0: invalid format - invalid key in comma-separated list property: colour"},
		{"create 103 " + tmpl + " --net0 bridge=vmbr0", "net0.name: property is missing and it is not optional"},
		{"create 103 " + tmpl + " --net0 name=eth0,type=macvlan", "net0.type: value 'macvlan' does not have a value in the enumeration 'veth'"},
		{"create 103 " + tmpl + " --features nesting=1,docker=1", "features: invalid format - invalid key in comma-separated list property: docker"},
		{"create 103 " + tmpl + " --startup order=first", "startup: invalid format - unable to parse startup options"},
		{"create 103 " + tmpl + " --mp0 local-zfs:4", "mp0.mp: property is missing and it is not optional"},
		{"create 103 " + tmpl + " --dev0 /tmp/nvidia0", "dev0.path: invalid format - /tmp/nvidia0 is not a valid device path"},
		{"create 103 " + tmpl + " --dev0 /dev/nvidia0,mode=777", "dev0.mode: value does not match the regex pattern"},
		// A missing device node, at create, set and start
		// (LXC/Tools.pm:157-165 via Config.pm:1383 and LXC.pm:777).
		{"create 103 " + tmpl + " --rootfs local-zfs:8 --dev0 /dev/nvidia-uvm", "Device /dev/nvidia-uvm does not exist"},
		{"set 102 --dev1 /dev/nvidia-uvm", "Device /dev/nvidia-uvm does not exist"},
		// Snapshot and clone with a bind mount
		// (AbstractConfig.pm:754-756; API2/LXC.pm:2109).
		{"snapshot 101 base", "snapshot feature is not available"},
		{"clone 101 104 --hostname copy", "unable to clone mountpoint 'mp0' (type bind)"},
		// Storage without container directories (API2/LXC.pm:351-353).
		{"create 103 " + tmpl + " --rootfs local:8", "storage: storage 'local' does not support container directories"},
		{"create 103 " + tmpl + " --rootfs nosuch:8", "storage 'nosuch' does not exist"},
	})
	// start: remove the node CT 102 names, as a reboot without udev rules
	// would leave it.
	if err := os.Remove(filepath.Join(p.Root, "dev/nvidia0")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res := result("", p.Pct(context.Background(), []string{"start", "102"}, nil, &out))
	if res.Code != 255 || !strings.Contains(res.Stderr, "Device /dev/nvidia0 does not exist") {
		t.Errorf("start with a missing device node: exit %d, %q", res.Code, res.Stderr)
	}
	// Devices came with pve-container 5.0.7 (PVE 8.1): on 8.0 the option
	// is unknown.
	p.Version = "8.0.9"
	res = result("", p.Pct(context.Background(), []string{"set", "102", "--dev0", "/dev/nvidia0"}, nil, &out))
	if res.Code != 255 || !strings.Contains(res.Stderr, "Unknown option: dev0") {
		t.Errorf("dev0 on PVE 8.0: exit %d, %q", res.Code, res.Stderr)
	}
}

func TestPveamRejects(t *testing.T) {
	p := rejectWorld(t)
	// A storage without vztmpl content and one without its template
	// directory.
	cfg := installerStorageCfg + "\ndir: bare\n\tpath /srv/bare\n\tcontent vztmpl\n"
	if err := os.WriteFile(filepath.Join(p.Root, "etc/pve/storage.cfg"), []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	checkRejects(t, p.Pveam, "pveam", []rejected{
		{"", "ERROR: no command specified"},
		{"fetch local x", "ERROR: unknown command 'pveam fetch'"},
		{"download local", "400 not enough arguments"},
		{"download local " + DefaultTemplate + " extra", "400 too many arguments"},
		{"download local " + DefaultTemplate + " --force", "Unknown option: force"},
		{"download x " + DefaultTemplate, "storage: invalid format - storage ID 'x' cannot be shorter than 2 characters"},
		{"download local " + strings.Repeat("a", 256), "template: value may only be 255 characters long"},
		{"download local nosuch.tar.zst", "template: no such template"},
		{"download nosuch " + DefaultTemplate, "storage 'nosuch' does not exist"},
		{"download local-zfs " + DefaultTemplate, "storage 'local-zfs' does not support templates"},
		{"download bare " + DefaultTemplate, "No such file or directory"},
		{"list", "400 not enough arguments"},
		{"update now", "400 too many arguments"},
	})
}
