package fake

import (
	"context"
	"strings"
	"testing"
)

// TestPct checks the fake against pct's documented syntax, messages and
// exit code (every PVE error is a Perl die: exit 255).
func TestPct(t *testing.T) {
	p := &PVE{Dir: t.TempDir(), Root: t.TempDir(), Version: "8.2.4"}
	run := func(tool tool, args ...string) (string, string, int) {
		var out strings.Builder
		res := result("", tool(context.Background(), args, nil, &out))
		return out.String(), res.Stderr, res.Code
	}
	tmpl := "local:vztmpl/" + DefaultTemplate
	steps := []struct {
		tool           tool
		args           string
		code           int
		stdout, stderr string
	}{
		{p.Pct, "config 123", 255, "", "Configuration file 'nodes/pve/lxc/123.conf' does not exist"},
		{p.Pct, "create 101 " + tmpl, 255, "", "volume '" + tmpl + "' does not exist"},
		{p.Pveam, "download local " + DefaultTemplate, 255, "", "apl-info"},
		{p.Pveam, "update", 0, "", ""},
		{p.Pveam, "download local nosuch.tar.zst", 255, "", "no such template"},
		{p.Pveam, "download local " + DefaultTemplate, 0, "downloading", ""},
		{p.Pveam, "list local", 0, tmpl, ""},
		{p.Pvesm, "path " + tmpl, 0, "/var/lib/vz/template/cache/" + DefaultTemplate, ""},
		{p.Pct, "create 101", 255, "", "400 not enough arguments\npct create <vmid> <ostemplate> [OPTIONS]"},
		{p.Pct, "create 101 " + tmpl + " --hostname web --net0 name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1 --rootfs local-zfs:8 --features nesting=1 --startup order=1,up=30 --mp0 local-zfs:4,mp=/a", 0, "extracting archive", ""},
		{p.Pct, "create 101 " + tmpl, 255, "", "CT 101 already exists on node 'pve'"},
		{p.Pct, "config 101", 0, "mp0: local-zfs:subvol-101-disk-1,mp=/a,size=4G\n", ""},
		{p.Pct, "status 101", 0, "status: stopped\n", ""},
		{p.Pct, "exec 101 -- true", 255, "", "CT 101 not running"},
		{p.Pct, "start 101", 0, "", ""},
		{p.Pct, "start 101", 255, "", "CT 101 already running"},
		{p.Pct, "exec 101 -- ip -4 route show default", 0, "default via 10.0.0.1 dev eth0", ""},
		{p.Pct, "exec 101 -- dpkg-query -W curl", 1, "", "no packages found matching curl"},
		{p.Pct, "set 101 --unprivileged 0", 255, "", "unable to modify read-only option: 'unprivileged'"},
		{p.Pct, "snapshot 101 base", 0, "", ""},
		{p.Pct, "snapshot 101 base", 255, "", "snapshot name 'base' already used"},
		{p.Pct, "listsnapshot 101", 0, "`-> base", ""},
		{p.Pct, "clone 101 102 --snapname nosuch", 255, "", "snapshot 'nosuch' does not exist"},
		{p.Pct, "clone 101 102 --snapname base --full 0", 255, "", "Linked clone feature"},
		{p.Pct, "clone 101 102 --snapname base --hostname web2", 0, "create full clone", ""},
		{p.Pct, "config 102", 0, "hostname: web2\n", ""},
		{p.Pct, "status 102", 0, "status: stopped\n", ""},
		{p.Pct, "resize 102 rootfs 4G", 255, "", "unable to shrink"},
		{p.Pct, "resize 102 rootfs +4G", 0, "", ""},
		{p.Pct, "config 102", 0, "rootfs: local-zfs:subvol-102-disk-0,size=12G\n", ""},
		{p.Pveversion, "", 0, "pve-manager/8.2.4/", ""},
	}
	for _, s := range steps {
		out, errOut, code := run(s.tool, strings.Fields(s.args)...)
		if code != s.code || !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q", s.args, code, out, errOut, s.code, s.stdout, s.stderr)
		}
	}
	// A clone gets new MACs.
	c1, _, _ := run(p.Pct, "config", "101")
	c2, _, _ := run(p.Pct, "config", "102")
	if hw := hwaddr(101, "net0"); !strings.Contains(c1, hw) || strings.Contains(c2, hw) {
		t.Errorf("clone kept the MAC:\n%s\n%s", c1, c2)
	}
}
