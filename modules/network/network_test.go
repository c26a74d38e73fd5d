package network

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

// The file the Proxmox installer writes.
const installerInterfaces = `auto lo
iface lo inet loopback

iface eno1 inet manual

auto vmbr0
iface vmbr0 inet static
	address 192.168.1.10/24
	gateway 192.168.1.1
	bridge-ports eno1
	bridge-stp off
	bridge-fd 0

iface eno2 inet manual
`

// netFake is the kernel's network state as ifreload leaves it: ifreload
// applies whatever the root's files say at that moment, and ping answers
// when the applied configuration can reach the gateway.
type netFake struct {
	root    host.Root
	applied string
	// reach decides from the applied drop-in whether the gateway answers.
	reach func(applied string) bool
	// reloadErr makes ifreload fail (a syntax error, say).
	reloadErr string
}

func (n *netFake) ifreload(context.Context, fakehost.Call) fakehost.Result {
	if n.reloadErr != "" {
		return fakehost.Fail(1, n.reloadErr)
	}
	b, _ := n.root.ReadFile(DropIn)
	m, _ := n.root.ReadFile(Interfaces)
	n.applied = string(m) + string(b)
	return fakehost.OK("")
}

func (n *netFake) ping(_ context.Context, c fakehost.Call) fakehost.Result {
	if n.reach(n.applied) {
		return fakehost.OK("1 packets transmitted, 1 received, 0% packet loss\n")
	}
	return fakehost.Fail(1, "")
}

func testSeed() *seed.Seed {
	return &seed.Seed{Version: 1, Network: &seed.Network{
		Management: seed.Bridge{Name: "vmbr0", Ports: []string{"eno1"}, Address: "192.168.1.20/24", Gateway: "192.168.1.1"},
		Bridges: []seed.Bridge{
			{Name: "vmbr1", Ports: []string{"eno2"}, VLANAware: true, VIDs: "10 20 100-200", MTU: 9000, Comment: "guests"},
			{Name: "vmbr2"},
		},
		DNS:    []string{"192.168.1.1", "9.9.9.9"},
		Search: []string{"lab.lan"},
	}}
}

func world(t testing.TB) (*host.DirRoot, *fakehost.Runner, *netFake, *modules.Env) {
	root := testkit.Root(t, map[string]string{
		Interfaces: installerInterfaces,
		ResolvConf: "search old.lan\nnameserver 8.8.8.8\n",
		// The NICs as sysfs shows them (a device behind each).
		SysNet + "/eno1/address":       "52:54:00:12:34:01\n",
		SysNet + "/eno1/device/vendor": "0x8086\n",
		SysNet + "/eno2/address":       "52:54:00:12:34:02\n",
		SysNet + "/eno2/device/vendor": "0x8086\n",
		SysNet + "/lo/address":         "00:00:00:00:00:00\n",
	})
	nf := &netFake{root: root, applied: installerInterfaces, reach: func(a string) bool {
		return strings.Contains(a, "192.168.1.") && !strings.Contains(a, "address 10.")
	}}
	run := fakehost.New()
	run.Handle("ifreload", nf.ifreload)
	run.Handle("ping", nf.ping)
	run.Script("systemctl", fakehost.OK(""))
	env := testkit.Env(testSeed(), run, root)
	return root, run, nf, env
}

func quick() *Module {
	return &Module{Sleep: func(context.Context, time.Duration) error { return nil }}
}

func converge(t *testing.T, env *modules.Env) modules.Result {
	t.Helper()
	return testkit.Converge(t, quick(), env)
}

func TestFirstRunRerunDrift(t *testing.T) {
	root, run, _, env := world(t)
	pending, err := modules.Check(context.Background(), quick(), env)
	if err != nil || len(pending) != 4 {
		t.Fatalf("check: %q %v", pending, err)
	}
	if len(run.Calls()) != 0 {
		t.Errorf("Check ran %s", run.Log())
	}
	converge(t, env)
	testkit.Golden(t, "first.files", testkit.Dump(t, root, "/var"))
	testkit.Golden(t, "first.calls", run.Log())
	if host.Exists(root, "/var/lib/phoenix/data/network/pending.json") {
		t.Error("pending record left after a confirmed change")
	}

	run.Reset()
	res := converge(t, env)
	if len(res.Changed) != 0 || len(run.Calls()) != 0 {
		t.Errorf("rerun changed %q ran %s", res.Changed, run.Log())
	}

	// Drift: someone edits vmbr0 by hand.
	main := testkit.Read(t, root, Interfaces)
	testkit.Write(t, root, Interfaces, strings.Replace(main, "address 192.168.1.20/24", "address 192.168.1.99/24", 1))
	run.Reset()
	converge(t, env)
	if !strings.Contains(run.Log(), "ifreload -a") {
		t.Errorf("drift not reloaded: %s", run.Log())
	}
	testkit.Golden(t, "first.files", testkit.Dump(t, root, "/var"))
}

func TestUnreachableGatewayRollsBack(t *testing.T) {
	root, run, nf, env := world(t)
	before := testkit.Dump(t, root, "/var")
	env.Seed.Network.Management.Address = "10.9.9.9/24" // wrong subnet: gateway unreachable
	env.Seed.Network.DNS = nil
	env.Seed.Network.Search = nil
	_, err := modules.Apply(context.Background(), quick(), env)
	if err == nil || !strings.Contains(err.Error(), "gateway 192.168.1.1 did not answer 5 pings") || !strings.Contains(err.Error(), "rolled back to the previous network configuration") {
		t.Fatalf("err = %v", err)
	}
	if after := testkit.Dump(t, root, "/var"); after != before {
		t.Errorf("files not restored:\n%s", after)
	}
	if nf.applied != installerInterfaces {
		t.Errorf("kernel state not reloaded from the old files: %q", nf.applied)
	}
	if host.Exists(root, "/var/lib/phoenix/data/network/pending.json") {
		t.Error("pending record left after rollback")
	}
	testkit.Golden(t, "rollback.calls", run.Log())
}

func TestRollbackDisabled(t *testing.T) {
	root, _, _, env := world(t)
	no := false
	env.Seed.Network.Rollback = &no
	env.Seed.Network.Management.Address = "10.9.9.9/24"
	_, err := modules.Apply(context.Background(), quick(), env)
	if err == nil || !strings.Contains(err.Error(), "rollback disabled") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(testkit.Read(t, root, Interfaces), "address 10.9.9.9/24") {
		t.Error("new configuration not left in place")
	}
}

func TestIfreloadFailureRollsBack(t *testing.T) {
	root, _, nf, env := world(t)
	before := testkit.Read(t, root, Interfaces)
	nf.reloadErr = "error: vmbr1: bridge-vids: invalid vlan range"
	_, err := modules.Apply(context.Background(), quick(), env)
	if err == nil || !strings.Contains(err.Error(), "invalid vlan range") || !strings.Contains(err.Error(), "files rolled back but ifreload failed") {
		t.Fatalf("err = %v", err)
	}
	if testkit.Read(t, root, Interfaces) != before || host.Exists(root, DropIn) {
		t.Error("files not restored")
	}
}

// A crash between writing the files and confirming them: the next run
// finds the pending record, reloads, confirms, or rolls back to the files
// from before the crashed run.
func TestCrashBeforeConfirmation(t *testing.T) {
	for _, reachable := range []bool{true, false} {
		root, run, nf, env := world(t)
		before := testkit.Read(t, root, Interfaces)
		m := quick()
		p, err := m.plan(env)
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := files.Save(root, DropIn, Interfaces)
		if err := env.Store.Put(pendingKey, snap); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ifaces.Apply(root); err != nil {
			t.Fatal(err)
		}
		// -- crash here: the new files are on disk, never confirmed --
		pending, _ := modules.Check(context.Background(), m, env)
		if len(pending) == 0 || !strings.Contains(strings.Join(pending, "\n"), "unconfirmed change") {
			t.Errorf("check after crash: %q", pending)
		}
		nf.reach = func(string) bool { return reachable }
		_, err = modules.Apply(context.Background(), m, env)
		if !strings.Contains(run.Log(), "ifreload -a\nping") {
			t.Errorf("not reloaded and confirmed: %s", run.Log())
		}
		if reachable && err != nil {
			t.Errorf("reachable: %v", err)
		}
		if !reachable && (err == nil || testkit.Read(t, root, Interfaces) != before) {
			t.Errorf("unreachable: err %v, interfaces %q", err, testkit.Read(t, root, Interfaces))
		}
	}
}

func TestDNSTargets(t *testing.T) {
	t.Run("systemd-resolved", func(t *testing.T) {
		root, run, _, env := world(t)
		if err := root.Remove(ResolvConf); err != nil {
			t.Fatal(err)
		}
		if err := root.Symlink("../run/systemd/resolve/stub-resolv.conf", ResolvConf); err != nil {
			t.Fatal(err)
		}
		converge(t, env)
		if got := testkit.Read(t, root, Resolved); !strings.Contains(got, "DNS=192.168.1.1 9.9.9.9\nDomains=lab.lan\n") {
			t.Errorf("resolved drop-in: %q", got)
		}
		if l, _ := root.Readlink(ResolvConf); l != "../run/systemd/resolve/stub-resolv.conf" {
			t.Errorf("symlink replaced: %q", l)
		}
		if !strings.Contains(run.Log(), "systemctl try-reload-or-restart systemd-resolved.service") {
			t.Errorf("resolved not reloaded: %s", run.Log())
		}
	})
	t.Run("resolvconf", func(t *testing.T) {
		root, _, _, env := world(t)
		_ = root.Remove(ResolvConf)
		if err := root.Symlink("/run/resolvconf/resolv.conf", ResolvConf); err != nil {
			t.Fatal(err)
		}
		res := converge(t, env)
		if len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "resolvconf") {
			t.Errorf("notes %q", res.Notes)
		}
	})
	t.Run("bad server", func(t *testing.T) {
		_, _, _, env := world(t)
		env.Seed.Network.DNS = []string{"dns.example"}
		if _, err := modules.Check(context.Background(), quick(), env); err == nil {
			t.Error("accepted")
		}
	})
}

// A bridge dropped from the seed is no longer Phoenix's: it stays as it
// is (Phoenix never undoes work silently), with no duplicate.
func TestDroppedBridgeStays(t *testing.T) {
	root, _, _, env := world(t)
	converge(t, env)
	env.Seed.Network.Bridges = nil
	converge(t, env)
	main := testkit.Read(t, root, Interfaces)
	if strings.Count(main, "iface vmbr1 inet manual") != 1 || strings.Count(main, "iface eno2 inet manual") != 1 || strings.Count(main, "auto lo") != 1 {
		t.Errorf("interfaces:\n%s", main)
	}
}

func TestBadSeedValues(t *testing.T) {
	for name, mut := range map[string]func(n *seed.Network){
		"address without prefix": func(n *seed.Network) { n.Management.Address = "192.168.1.20" },
		"bad gateway":            func(n *seed.Network) { n.Management.Gateway = "gw" },
		"vids without vlan":      func(n *seed.Network) { n.Bridges[0].VLANAware = false },
		"bad vids":               func(n *seed.Network) { n.Bridges[0].VIDs = "1;reboot" },
		"duplicate":              func(n *seed.Network) { n.Bridges[1].Name = "vmbr0" },
		"port twice":             func(n *seed.Network) { n.Bridges[1].Ports = []string{"eno1"} },
		"bad name":               func(n *seed.Network) { n.Bridges[1].Name = "vmbr1 up" },
	} {
		t.Run(name, func(t *testing.T) {
			_, run, _, env := world(t)
			mut(env.Seed.Network)
			if _, err := modules.Apply(context.Background(), quick(), env); err == nil {
				t.Error("accepted")
			}
			if len(run.Calls()) != 0 {
				t.Errorf("ran %s", run.Log())
			}
		})
	}
}

// A new management address reaches /etc/hosts through this module: the
// engine does not rerun the host module for a network change.
func TestManagementAddressFollowsIntoHosts(t *testing.T) {
	root, _, _, env := world(t)
	env.Seed.Host = &seed.Host{Hostname: "pve1", Domain: "lab.lan"}
	testkit.Write(t, root, "/etc/hosts", "127.0.0.1 localhost\n")
	converge(t, env)
	env.Seed.Network.Management.Address = "192.168.1.21/24"
	converge(t, env)
	hosts := testkit.Read(t, root, "/etc/hosts")
	if !strings.Contains(hosts, "\n192.168.1.21\tpve1.lab.lan pve1\n") || strings.Contains(hosts, "192.168.1.20") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
}

func TestRolledBackAddressNotInHosts(t *testing.T) {
	root, _, _, env := world(t)
	env.Seed.Host = &seed.Host{Hostname: "pve1"}
	testkit.Write(t, root, "/etc/hosts", "127.0.0.1 localhost\n")
	env.Seed.Network.Management.Address = "10.9.9.9/24"
	if _, err := modules.Apply(context.Background(), quick(), env); err == nil {
		t.Fatal("no rollback")
	}
	if got := testkit.Read(t, root, "/etc/hosts"); got != "127.0.0.1 localhost\n" {
		t.Errorf("/etc/hosts names an address that was rolled back:\n%s", got)
	}
}
