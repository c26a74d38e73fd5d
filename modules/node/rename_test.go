package node

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

// pveWorld is world on a Proxmox VE host: pmxcfs installed, the running
// node called debian, /etc/pve/local pointing at nodes/debian as pmxcfs
// links it at start (pve-cluster src/pmxcfs/pmxcfs.c:663-668).
func pveWorld(t *testing.T) (*modules.Env, *fakehost.Runner) {
	root, run, env := world(t)
	testkit.Write(t, root, PmxcfsBin, "")
	testkit.Write(t, root, KernelHostname, "debian\n")
	testkit.Write(t, root, "/etc/pve/nodes/debian/lrm_status", "{}\n")
	testkit.Write(t, root, "/run/systemd/system/.keep", "")
	testkit.Write(t, root, "/run/dbus/system_bus_socket", "")
	env.BootID = "boot-1"
	return env, run
}

// bootAs simulates the reboot: the kernel takes /etc/hostname, pmxcfs
// starts with it.
func bootAs(t *testing.T, env *modules.Env, boot string) {
	testkit.Write(t, env.Root, KernelHostname, testkit.Read(t, env.Root, HostnameFile))
	env.BootID = boot
}

// TestRenamePVENodeReboots: on a PVE host the rename is written, then the
// module asks for a reboot (no live rename: pmxcfs and the PVE tools
// would keep the old name), and after the boot it finishes, saying so.
func TestRenamePVENodeReboots(t *testing.T) {
	env, run := pveWorld(t)
	todo, err := modules.Check(context.Background(), New(), env)
	if err != nil || !strings.Contains(strings.Join(todo, "\n"), "reboot to rename the running node debian to pve1") {
		t.Fatalf("check: %q %v", todo, err)
	}
	res, err := modules.Apply(context.Background(), New(), env)
	if err != nil || !res.Reboot || !strings.Contains(res.Reason, "node renamed debian -> pve1") || !strings.Contains(res.Reason, "pmxcfs") {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if strings.Contains(run.Log(), "hostname") {
		t.Errorf("renamed live on a PVE host: %s", run.Log())
	}
	if testkit.Read(t, env.Root, HostnameFile) != "pve1\n" {
		t.Error("/etc/hostname not written before the reboot")
	}
	// The engine died before rebooting: same boot, ask again.
	if res, err := modules.Apply(context.Background(), New(), env); err != nil || !res.Reboot {
		t.Errorf("same boot: %+v %v", res, err)
	}
	bootAs(t, env, "boot-2")
	res, err = modules.Apply(context.Background(), New(), env)
	if err != nil || res.Reboot || !strings.Contains(strings.Join(res.Notes, "\n"), "node renamed debian -> pve1; rebooted") {
		t.Errorf("after the reboot: %+v %v", res, err)
	}
	if todo, err := modules.Check(context.Background(), New(), env); err != nil || len(todo) != 0 {
		t.Errorf("check after: %q %v", todo, err)
	}
}

// TestRenameRebootThatDidNotTake: the name did not stick across the
// reboot: an error, no second reboot.
func TestRenameRebootThatDidNotTake(t *testing.T) {
	env, _ := pveWorld(t)
	if res, _ := modules.Apply(context.Background(), New(), env); !res.Reboot {
		t.Fatal("no reboot")
	}
	env.BootID = "boot-2" // the kernel name stays debian
	_, err := modules.Apply(context.Background(), New(), env)
	if err == nil || !strings.Contains(err.Error(), "the running host name is still debian") {
		t.Errorf("err = %v", err)
	}
}

// TestRenameThroughEngine: nothing after the host module (here a module
// standing for the storages, firewall and containers that write /etc/pve)
// runs before the reboot, and when it runs the node has its new name.
func TestRenameThroughEngine(t *testing.T) {
	env, run := pveWorld(t)
	var sawName []string
	later := &pveUser{see: func(e *modules.Env) {
		sawName = append(sawName, strings.TrimSpace(testkit.Read(t, e.Root, KernelHostname)))
	}}
	s := env.Seed
	s.ZFS = &seed.ZFS{}
	reboots := 0
	opts := func(boot string) bootstrap.Options {
		return bootstrap.Options{Root: env.Root, Runner: run, Modules: []modules.Module{New(), later}, Seed: s,
			Version: "test", BootID: boot, Reboot: func(context.Context) error { reboots++; return nil }}
	}
	out, err := bootstrap.Run(context.Background(), opts("boot-1"))
	if err != nil || out.State != bootstrap.Rebooting || out.Module != "host" || len(sawName) != 0 {
		t.Fatalf("run 1: %+v %v; later saw %q", out, err, sawName)
	}
	st, _, _ := bootstrap.ReadStatus(env.Root)
	if !strings.Contains(st.Progress, "node renamed debian -> pve1") {
		t.Errorf("status progress %q does not say why", st.Progress)
	}
	bootAs(t, env, "boot-2")
	out, err = bootstrap.Run(context.Background(), opts("boot-2"))
	if err != nil || out.State != bootstrap.Done || reboots != 1 {
		t.Fatalf("run 2: %+v %v reboots %d", out, err, reboots)
	}
	if len(sawName) != 1 || sawName[0] != "pve1" {
		t.Errorf("the later module saw node names %q, want [pve1]", sawName)
	}
}

type pveUser struct{ see func(*modules.Env) }

func (*pveUser) Name() string             { return "zfs" }
func (*pveUser) Active(s *seed.Seed) bool { return s.ZFS != nil }
func (*pveUser) Check(context.Context, *modules.Env) ([]string, error) {
	return nil, nil
}
func (u *pveUser) Apply(_ context.Context, e *modules.Env) (modules.Result, error) {
	u.see(e)
	return modules.Result{}, nil
}

// TestRenameRefused: a clustered node, or a name pmxcfs could only resolve
// to loopback, is refused by Check (plan) and Apply, pointing to the
// Proxmox procedure; nothing is written.
func TestRenameRefused(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		env, _ := pveWorld(t)
		testkit.Write(t, env.Root, ClusterConf, "totem {\n  cluster_name: lab\n}\n")
		for _, f := range []func() error{
			func() error { _, err := modules.Check(context.Background(), New(), env); return err },
			func() error { _, err := modules.Apply(context.Background(), New(), env); return err },
		} {
			if err := f(); err == nil || !strings.Contains(err.Error(), "it is in a cluster") || !strings.Contains(err.Error(), RenameDocs) {
				t.Errorf("err = %v", err)
			}
		}
		if testkit.Read(t, env.Root, HostnameFile) != "debian\n" {
			t.Error("renamed anyway")
		}
	})
	t.Run("guests point to the docs", func(t *testing.T) {
		env, _ := pveWorld(t)
		testkit.Write(t, env.Root, "/etc/pve/nodes/debian/qemu-server/100.conf", "memory: 2048\n")
		if _, err := modules.Check(context.Background(), New(), env); err == nil || !strings.Contains(err.Error(), RenameDocs) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("loopback only", func(t *testing.T) {
		env, _ := pveWorld(t)
		env.Seed.Network = nil // /etc/hosts left as it is
		testkit.Write(t, env.Root, HostsFile, "127.0.0.1 localhost\n127.0.1.1 pve1.lab.lan pve1\n")
		if _, err := modules.Check(context.Background(), New(), env); err == nil || !strings.Contains(err.Error(), "pmxcfs would refuse to start") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no entry is a note", func(t *testing.T) {
		env, _ := pveWorld(t)
		env.Seed.Network = nil
		testkit.Write(t, env.Root, HostsFile, "127.0.0.1 localhost\n")
		res, err := modules.Apply(context.Background(), New(), env)
		if err != nil || !strings.Contains(strings.Join(res.Notes, "\n"), "pmxcfs must resolve it") {
			t.Errorf("%+v %v", res, err)
		}
	})
}

func (u *pveUser) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, u.Check, u.Apply)
}
