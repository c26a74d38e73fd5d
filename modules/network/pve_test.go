package network

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

var physical = []string{"eno1", "eno2", "eno3"}

// TestBridgesWhereProxmoxReadsThem: the bridges are in
// /etc/network/interfaces itself, and PVE's own writer (guiRewrite, the
// port of pve-common's) leaves Phoenix's stanzas as they are: the file
// Phoenix writes is a fixed point of a GUI edit.
func TestBridgesWhereProxmoxReadsThem(t *testing.T) {
	root, _, _, env := world(t)
	converge(t, env)
	main := testkit.Read(t, root, Interfaces)
	if host.Exists(root, DropIn) || strings.Contains(main, "source /etc/network/interfaces.d") {
		t.Errorf("bridges not in %s alone:\n%s", Interfaces, main)
	}
	gui := guiRewrite(main, physical, nil)
	for _, st := range []string{
		"auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.1.20/24\n\tgateway 192.168.1.1\n\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n\n",
		"auto vmbr1\niface vmbr1 inet manual\n\tbridge-ports eno2\n\tbridge-stp off\n\tbridge-fd 0\n\tbridge-vlan-aware yes\n\tbridge-vids 10 20 100-200\n\tmtu 9000\n#guests\n\n",
		"auto vmbr2\niface vmbr2 inet manual\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n\n",
		"iface eno1 inet manual\n\n",
	} {
		if !strings.Contains(main, st) || !strings.Contains(gui, st) {
			t.Errorf("stanza not as PVE writes it (phoenix %v, gui %v):\n%s", strings.Contains(main, st), strings.Contains(gui, st), st)
		}
	}
	// Phoenix on a file the GUI wrote: nothing to do.
	testkit.Write(t, root, Interfaces, gui)
	if todo, err := modules.Check(context.Background(), quick(), env); err != nil || len(todo) != 0 {
		t.Errorf("check after a GUI rewrite: %q %v", todo, err)
	}
}

// TestReseedAfterGUIEdit: the admin adds a bridge in the GUI and an option
// to vmbr0 by hand, the GUI rewrites the file (header, its order, every
// NIC); a reseed changing vmbr1 then rewrites vmbr1 only: no duplicate
// stanza, the admin's bridge and option kept, and the result is again a
// fixed point of the GUI's writer.
func TestReseedAfterGUIEdit(t *testing.T) {
	root, run, _, env := world(t)
	converge(t, env)
	main := testkit.Read(t, root, Interfaces)
	main = strings.Replace(main, "\tbridge-fd 0\n\niface eno2", "\tbridge-fd 0\n\tpost-up /usr/local/sbin/tune-vmbr0\n\niface eno2", 1)
	gui := guiRewrite(main, physical, func(ifaces map[string]*pveIface) {
		d := &pveIface{priority: 40, autostart: true, families: []string{"inet"}, typ: "bridge",
			method: map[string]string{"": "manual", "6": "manual"}, address: map[string]string{}, netmask: map[string]string{},
			gateway: map[string]string{}, options: map[string][]string{}, comments: map[string]string{"": "lab\n"},
			settings: map[string]string{"bridge_ports": "eno3", "bridge_stp": "off", "bridge_fd": "0"}}
		ifaces["vmbr5"] = d
	})
	testkit.Write(t, root, Interfaces, gui)

	env.Seed.Network.Bridges[0].MTU = 1500
	run.Reset()
	res := converge(t, env)
	after := testkit.Read(t, root, Interfaces)
	for _, name := range []string{"vmbr0", "vmbr1", "vmbr2", "vmbr5", "eno1", "eno2", "eno3", "lo"} {
		if n := strings.Count(after, "iface "+name+" "); n != 1 {
			t.Errorf("%d stanzas for %s:\n%s", n, name, after)
		}
		if n := strings.Count(after, "auto "+name+"\n"); n > 1 {
			t.Errorf("%d auto lines for %s", n, name)
		}
	}
	for _, want := range []string{"\tpost-up /usr/local/sbin/tune-vmbr0\n", "iface vmbr5 inet manual\n\tbridge-ports eno3\n", "#lab\n", "\tmtu 1500\n", "PVE will preserve these directives"} {
		if !strings.Contains(after, want) {
			t.Errorf("lost %q:\n%s", want, after)
		}
	}
	if strings.Contains(after, "mtu 9000") || !strings.Contains(run.Log(), "ifreload -a") || len(res.Changed) == 0 {
		t.Errorf("change not applied: %q %s", res.Changed, run.Log())
	}
	if again := guiRewrite(after, physical, nil); again != after {
		t.Errorf("not a fixed point of the GUI's writer:\n--- phoenix\n%s--- gui\n%s", after, again)
	}
	run.Reset()
	if res := converge(t, env); len(res.Changed) != 0 || len(run.Calls()) != 0 {
		t.Errorf("rerun: %q %s", res.Changed, run.Log())
	}
}

// TestOldLayoutMigrated: a host Phoenix provisioned with the drop-in
// (interfaces.d/phoenix, the installer's stanzas disabled, a managed
// source block) ends with the bridges in /etc/network/interfaces, the
// drop-in and the source block gone, the admin's lines back.
func TestOldLayoutMigrated(t *testing.T) {
	root, run, _, env := world(t)
	testkit.Write(t, root, Interfaces, `auto lo
iface lo inet loopback

#phoenix# iface eno1 inet manual

#phoenix# auto vmbr0
#phoenix# iface vmbr0 inet static
#phoenix# 	address 192.168.1.10/24
#phoenix# 	gateway 192.168.1.1
#phoenix# 	bridge-ports eno1
#phoenix# 	bridge-stp off
#phoenix# 	bridge-fd 0

iface eno3 inet dhcp
# BEGIN PHOENIX network (managed by phoenix; edits here are overwritten)
source /etc/network/interfaces.d/*
# END PHOENIX network
`)
	testkit.Write(t, root, DropIn, "# Managed by phoenix (seed network); edits are overwritten.\n\nauto vmbr0\niface vmbr0 inet static\n\taddress 192.168.1.20/24\n")
	converge(t, env)
	main := testkit.Read(t, root, Interfaces)
	if host.Exists(root, DropIn) || strings.Contains(main, "#phoenix#") || strings.Contains(main, "BEGIN PHOENIX") {
		t.Errorf("old layout left:\n%s", main)
	}
	if !strings.Contains(main, "iface eno3 inet dhcp\n") || strings.Count(main, "iface vmbr0 ") != 1 || !strings.Contains(main, "address 192.168.1.20/24") {
		t.Errorf("interfaces:\n%s", main)
	}
	if !strings.Contains(run.Log(), "ifreload -a") {
		t.Errorf("not reloaded: %s", run.Log())
	}
}

// TestPendingGUIChange: an edit staged in the GUI (interfaces.new) is not
// overwritten and does not undo Phoenix at the next boot: Phoenix's
// bridges go into it as well, the admin's staged bridge stays, it stays
// pending, and the status note says so. Committing it (pvenetcommit at
// boot: mv interfaces.new interfaces) leaves Phoenix converged.
func TestPendingGUIChange(t *testing.T) {
	root, _, _, env := world(t)
	staged := guiRewrite(installerInterfaces, physical, func(ifaces map[string]*pveIface) {
		ifaces["vmbr9"] = &pveIface{priority: 40, autostart: true, families: []string{"inet"}, typ: "bridge",
			method: map[string]string{"": "manual", "6": "manual"}, address: map[string]string{}, netmask: map[string]string{},
			gateway: map[string]string{}, options: map[string][]string{}, comments: map[string]string{},
			settings: map[string]string{"bridge_ports": "eno3", "bridge_stp": "off", "bridge_fd": "0"}}
	})
	testkit.Write(t, root, InterfacesNew, staged)
	todo, err := modules.Check(context.Background(), quick(), env)
	if err != nil || !strings.Contains(strings.Join(todo, "\n"), InterfacesNew+": bridges vmbr0 vmbr1 vmbr2 in the pending GUI change") {
		t.Errorf("check: %q %v", todo, err)
	}
	res := converge(t, env)
	if !strings.Contains(strings.Join(res.Notes, "\n"), "staged in the GUI is pending") {
		t.Errorf("notes %q", res.Notes)
	}
	newer := testkit.Read(t, root, InterfacesNew)
	for _, want := range []string{"iface vmbr9 inet manual\n\tbridge-ports eno3", "iface vmbr1 inet manual", "address 192.168.1.20/24"} {
		if !strings.Contains(newer, want) {
			t.Errorf("%s lacks %q:\n%s", InterfacesNew, want, newer)
		}
	}
	if strings.Count(newer, "iface vmbr0 ") != 1 {
		t.Errorf("duplicate vmbr0 in %s:\n%s", InterfacesNew, newer)
	}
	if strings.Contains(testkit.Read(t, root, Interfaces), "vmbr9") {
		t.Error("the staged change was applied")
	}
	// pvenetcommit at the next boot (pve-manager services/pvenetcommit.service).
	testkit.Write(t, root, Interfaces, testkit.Read(t, root, InterfacesNew))
	if err := root.Remove(InterfacesNew); err != nil {
		t.Fatal(err)
	}
	if todo, err := modules.Check(context.Background(), quick(), env); err != nil || len(todo) != 0 {
		t.Errorf("check after the commit: %q %v", todo, err)
	}
}

// TestPortsByMAC: a port given by MAC is written as the NIC's name, whose
// name is pinned by a .link file as pve-network-interface-pinning writes
// it; an unknown MAC, or a pin this boot has not applied, is an error
// before anything is written.
func TestPortsByMAC(t *testing.T) {
	root, run, _, env := world(t)
	env.Seed.Network.Bridges[0].Ports = []string{"52:54:00:12:34:02"}
	converge(t, env)
	if !strings.Contains(testkit.Read(t, root, Interfaces), "iface vmbr1 inet manual\n\tbridge-ports eno2\n") {
		t.Errorf("interfaces:\n%s", testkit.Read(t, root, Interfaces))
	}
	if got := testkit.Read(t, root, LinkDir+"/50-pmx-eno2.link"); got != "[Match]\nMACAddress=52:54:00:12:34:02\nType=ether\n\n[Link]\nName=eno2\n" {
		t.Errorf("link file %q", got)
	}
	if env.Seed.Network.Bridges[0].Ports[0] != "52:54:00:12:34:02" {
		t.Error("the seed was modified")
	}

	t.Run("unknown MAC", func(t *testing.T) {
		_, run, _, env := world(t)
		env.Seed.Network.Bridges[0].Ports = []string{"52:54:00:ff:ff:ff"}
		_, err := modules.Check(context.Background(), quick(), env)
		if err == nil || !strings.Contains(err.Error(), "no NIC has that MAC address (NICs: eno1 52:54:00:12:34:01, eno2 52:54:00:12:34:02)") || len(run.Calls()) != 0 {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("pin not applied yet", func(t *testing.T) {
		root, _, _, env := world(t)
		testkit.Write(t, root, LinkDir+"/50-pmx-nic1.link", "[Match]\nMACAddress=52:54:00:12:34:02\nType=ether\n\n[Link]\nName=nic1\n")
		_, err := modules.Apply(context.Background(), quick(), env)
		if err == nil || !strings.Contains(err.Error(), "pinned to the name nic1") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("existing pin kept", func(t *testing.T) {
		root, _, _, env := world(t)
		testkit.Write(t, root, LinkDir+"/50-pve-eno2.link", "[Match]\nMACAddress=52:54:00:12:34:02\n[Link]\nName=eno2\n")
		converge(t, env)
		if host.Exists(root, LinkDir+"/50-pmx-eno2.link") {
			t.Error("pinned twice")
		}
	})
	_ = run
}

// TestGatewayIsOwnAddress: the commit-confirm ping would be answered by
// the host itself; refused before anything runs.
func TestGatewayIsOwnAddress(t *testing.T) {
	_, run, _, env := world(t)
	env.Seed.Network.Management.Gateway = "192.168.1.20"
	if _, err := modules.Check(context.Background(), quick(), env); err == nil || !strings.Contains(err.Error(), "this host's own address") {
		t.Errorf("err = %v", err)
	}
	if _, err := modules.Apply(context.Background(), quick(), env); err == nil || len(run.Calls()) != 0 {
		t.Errorf("apply: %v, ran %s", err, run.Log())
	}
}
