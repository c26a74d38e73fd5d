package kernel

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/kernel/fake"
)

func faultWorld(cmdline string) func(t testing.TB) *fault.World {
	return faultWorldFiles(loaderFiles(cmdline))
}

func faultWorldFiles(fs map[string]string) func(t testing.TB) *fault.World {
	return func(t testing.TB) *fault.World {
		root := testkit.Root(t, fs)
		run := fakehost.New()
		m := fake.New(root, "nouveau")
		m.Register(run)
		return &fault.World{Root: root, Runner: run, Boot: m.Boot,
			Effects: func() string { return strings.Join(m.Loaded(), " ") }}
	}
}

// Every failed command, every crash after a command or a write, on both
// boot loaders: the host ends as in a fault-free run, which (checked by
// the harness through Check) has the change in effect.
func TestFaults(t *testing.T) {
	for name, fs := range map[string]map[string]string{"grub": loaderFiles(""), "boottool": loaderFiles("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n"), "grub-esp": grubESPFiles()} {
		t.Run(name, func(t *testing.T) {
			fault.Check(t, fault.Scenario{Seed: testSeed(), Modules: []modules.Module{New()}, NewWorld: faultWorldFiles(fs),
				// The reboot record names the boot that asked for it, which
				// a crash (a power loss) legitimately changes.
				Ignore: []string{"/var/lib/phoenix/data/kernel/rebooted.json"}})
		})
	}
}

// Through the real engine: the first run asks for the reboot, the engine
// records it; after the boot the second run verifies and completes. A
// change that does not take effect stops with the module's message, with
// no second reboot.
func TestThroughEngine(t *testing.T) {
	for _, broken := range []bool{false, true} {
		w := faultWorld("")(t)
		var m *fake.Machine
		run := w.Runner.(*fakehost.Runner)
		m = fake.New(w.Root, "nouveau")
		if broken {
			m.Broken["vfio"] = true
		}
		m.Register(run)
		reboots := 0
		opts := func(boot string) bootstrap.Options {
			return bootstrap.Options{Root: w.Root, Runner: run, Modules: []modules.Module{New()}, Seed: testSeed(),
				Version: "test", BootID: boot, Reboot: func(context.Context) error { reboots++; return nil }}
		}
		out, err := bootstrap.Run(context.Background(), opts("boot-1"))
		if err != nil || out.State != bootstrap.Rebooting || reboots != 1 {
			t.Fatalf("run 1: %+v %v reboots %d", out, err, reboots)
		}
		m.Boot()
		out, err = bootstrap.Run(context.Background(), opts("boot-2"))
		if !broken {
			if err != nil || out.State != bootstrap.Done || !out.Complete {
				t.Errorf("run 2: %+v %v", out, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), "module vfio not loaded") || out.State != bootstrap.Failed {
			t.Errorf("run 2 (broken): %+v %v", out, err)
		}
		if reboots != 1 {
			t.Errorf("broken=%v: %d reboots", broken, reboots)
		}
	}
}
