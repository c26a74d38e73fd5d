package pvecontract

import (
	"errors"
	"strings"
	"testing"
)

func TestSource(t *testing.T) {
	c := MustLoad()
	if c.Source.Version < "9.1.3" || len(c.Source.Commit) != 40 {
		t.Errorf("contract pinned to %q at %q; want pve-docs 9.1.3 or newer at a full commit", c.Source.Version, c.Source.Commit)
	}
	for _, tool := range []string{"pct", "pvesm", "pveam", "pveum", "pvecm"} {
		if len(c.Tools[tool].Commands) == 0 {
			t.Errorf("%s: no commands", tool)
		}
	}
	for _, p := range []string{"/nodes/{node}/network", "/cluster/config"} {
		if c.API[p] == nil {
			t.Errorf("api: no %s", p)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
		want string // piece of the refusal
	}{
		{"pct create 900 local:vztmpl/debian-13-standard_13.6-1_amd64.tar.zst --hostname base --net0 name=eth0,bridge=vmbr0,ip=dhcp --rootfs local-zfs:8 --unprivileged 1", true, ""},
		{"pct exec 900 -- ip -4 route show default", true, ""},
		{"pct set 901 --dev0 /dev/nvidia0 --delete mp0,dev1", true, ""},
		{"pct create 900 local:vztmpl/x --host web", true, ""}, // Getopt::Long abbreviation
		{"pveum user list --output-format json", true, ""},
		{"pvecm add 10.0.0.1 --link0 10.0.0.2,priority=10", true, ""},
		{"pct exec 900 ls -la", false, "Unknown option: la"},
		{"pct create 900 local:vztmpl/x --net", false, "Option net is ambiguous"},
		{"pct create 900", false, "400 not enough arguments\npct create <vmid> <ostemplate> [OPTIONS]\n"},
		{"pct status 900 901", false, "400 too many arguments"},
		{"pveum user", false, "ERROR: incomplete command 'pveum user'"},
		{"pveum acl modify / --users alice@pam", false, "roles: property is missing and it is not optional"},
		{"pveum user list --output-format xml", false, "output-format: value 'xml' does not have a value in the enumeration 'json, json-pretty, text, yaml'"},
		{"pvecm add 10.0.0.1 --link8 10.0.0.2", false, "Unknown option: link8"},
		{"pvecm add 10.0.0.1 --link0 10.0.0.2,weight=1", false, "invalid key in comma-separated list property: weight"},
		{"pvesm add dir tank-backup --path /tank/backup --mkdir 0", false, "option '--mkdir' is deprecated"},
	} {
		f := strings.Fields(c.line)
		_, err := CheckStrict(f[0], f[1:])
		if c.ok {
			if err != nil {
				t.Errorf("%s: refused: %v", c.line, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != 255 || !strings.Contains(ce.Msg, c.want) {
			t.Errorf("%s: got %v; want exit 255 with %q", c.line, err, c.want)
		}
	}
}

// TestParamMessageShape pins the stderr shape of a parameter error:
// PVE::Exception stringified (code, message, "param: msg" lines) and the
// short usage.
func TestParamMessageShape(t *testing.T) {
	_, err := Check("pct", strings.Fields("create 900 local:vztmpl/x --cores 0 --arch sparc"))
	want := "400 Parameter verification failed.\n" +
		"arch: value 'sparc' does not have a value in the enumeration 'amd64, arm64, armhf, i386, riscv32, riscv64'\n" +
		"cores: value must have a minimum value of 1\n" +
		"pct create <vmid> <ostemplate> [OPTIONS]\n"
	var ce *Error
	if !errors.As(err, &ce) || ce.Msg != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	// The deprecated option passes Check (the real tool takes it).
	if _, err := Check("pvesm", strings.Fields("add dir tank-backup --path /tank/backup --mkdir 0")); err != nil {
		t.Errorf("Check refused a deprecated option: %v", err)
	}
}

func TestCheckPvesh(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
		want string
	}{
		{"create /nodes/pve/network --iface vmbr1 --type bridge --bridge_ports enp4s0 --autostart 1", true, ""},
		{"get /nodes/pve/network --type any_bridge", true, ""},
		{"set /nodes/pve/network/vmbr1 --type bridge --mtu 9000", true, ""},
		{"get /cluster/config/nodes", true, ""},
		{"create /nodes/pve/network --iface vmbr1 --type tunnel", false, "type: value 'tunnel' does not have a value in the enumeration"},
		{"create /nodes/pve/network --iface vmbr1", false, "type: property is missing and it is not optional"},
		{"create /nodes/pve/network --iface vmbr1 --type bridge --colour red", false, "Unknown option: colour"},
		{"create /nodes/pve_1/network --iface vmbr1 --type bridge", false, "node: invalid format - value does not look like a valid node name"},
		{"frob /nodes/pve/network", false, "ERROR: unknown command 'pvesh frob'"},
	} {
		_, err := CheckPvesh(strings.Fields(c.line))
		if c.ok {
			if err != nil {
				t.Errorf("pvesh %s: refused: %v", c.line, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, c.want) {
			t.Errorf("pvesh %s: got %v; want %q", c.line, err, c.want)
		}
	}
	if _, err := CheckPvesh([]string{"get", "/version"}); !errors.Is(err, ErrNotInContract) {
		t.Errorf("path outside the contract: %v", err)
	}
}
