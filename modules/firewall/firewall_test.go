package firewall

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

func testSeed() *seed.Seed {
	return &seed.Seed{Version: 1, Host: &seed.Host{Hostname: "pve1"}, Firewall: &seed.Firewall{Rules: []seed.FirewallRule{
		{Action: "ACCEPT", Proto: "tcp", Dport: "22", Source: "192.168.10.0/24", Comment: "ssh"},
		{Action: "ACCEPT", Proto: "tcp", Dport: "8006", Source: "192.168.10.0/24", Comment: "web  UI"},
		{Action: "ACCEPT", Proto: "tcp", Dport: "111,2049"},
		{Action: "DROP", Proto: "udp", Dport: "5900:5999"},
	}}}
}

func world(t testing.TB) (*host.DirRoot, *modules.Env) {
	root := testkit.Root(t, map[string]string{
		"/etc/group":                     "root:x:0:\nwww-data:x:33:\n",
		"/etc/pve/nodes/pve1/lrm_status": "{}",
		"/etc/pve/firewall/cluster.fw":   "[OPTIONS]\n\nenable: 1\n",
	})
	return root, testkit.Env(testSeed(), fakehost.New(), root)
}

func converge(t *testing.T, env *modules.Env) modules.Result {
	t.Helper()
	return testkit.Converge(t, New(), env)
}

const hostFW = "/etc/pve/nodes/pve1/host.fw"

func TestFirstRunRerunDrift(t *testing.T) {
	root, env := world(t)
	if p, _ := modules.Check(context.Background(), New(), env); len(p) != 1 {
		t.Errorf("check %q", p)
	}
	res := converge(t, env)
	if len(res.Changed) != 1 || len(res.Notes) != 0 {
		t.Errorf("%+v", res)
	}
	testkit.Golden(t, "host.fw", testkit.Read(t, root, hostFW))
	// pmxcfs accepts only 0640 root:www-data for this file.
	fi, _ := root.Stat(hostFW)
	if fi.Mode().Perm() != 0o640 || host.FileOwner(fi) != (host.Owner{UID: 0, GID: 33}) {
		t.Errorf("mode %v owner %v", fi.Mode(), host.FileOwner(fi))
	}
	if res := converge(t, env); len(res.Changed) != 0 {
		t.Errorf("rerun changed %q", res.Changed)
	}
	testkit.Write(t, root, hostFW, "[OPTIONS]\nenable: 0\n")
	converge(t, env)
	testkit.Golden(t, "host.fw", testkit.Read(t, root, hostFW))
	if len(env.Runner.(*fakehost.Runner).Calls()) != 0 {
		t.Error("ran commands")
	}
}

func TestBadHostState(t *testing.T) {
	t.Run("pmxcfs not mounted", func(t *testing.T) {
		root, env := world(t)
		_ = root.Remove("/etc/pve/nodes/pve1/lrm_status")
		_ = root.Remove("/etc/pve/nodes/pve1")
		_, err := modules.Apply(context.Background(), New(), env)
		if err == nil || !strings.Contains(err.Error(), "is pve-cluster (pmxcfs) running") || host.Exists(root, hostFW) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no www-data", func(t *testing.T) {
		root, env := world(t)
		testkit.Write(t, root, "/etc/group", "root:x:0:\n")
		if _, err := modules.Apply(context.Background(), New(), env); err == nil || !strings.Contains(err.Error(), "www-data") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("datacenter firewall off", func(t *testing.T) {
		root, env := world(t)
		_ = root.Remove("/etc/pve/firewall/cluster.fw")
		if res := converge(t, env); len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "datacenter firewall is off") {
			t.Errorf("notes %q", res.Notes)
		}
	})
	t.Run("node from /etc/hostname", func(t *testing.T) {
		root, env := world(t)
		env.Seed.Host = nil
		testkit.Write(t, root, "/etc/hostname", "pve1.lab.lan\n")
		converge(t, env)
	})
	t.Run("bad port", func(t *testing.T) {
		_, env := world(t)
		env.Seed.Firewall.Rules[0].Dport = "22 -j ACCEPT"
		if _, err := modules.Check(context.Background(), New(), env); err == nil {
			t.Error("accepted")
		}
	})
}

func TestFaults(t *testing.T) {
	fault.Check(t, fault.Scenario{Seed: testSeed(), Modules: []modules.Module{New()},
		NewWorld: func(tb testing.TB) *fault.World {
			root, env := world(tb)
			return &fault.World{Root: root, Runner: env.Runner}
		}})
}
