package nvidia

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

// faultWorld is a GPU host with nouveau loaded and a module that needs a
// reboot before it loads: the two-reboot flow.
func faultWorld(needsReboot bool) func(t testing.TB) *fault.World {
	return func(t testing.TB) *fault.World {
		root := host.NewDirRoot(t.TempDir())
		fk := fake.New(t.TempDir(), root.Dir())
		st := fake.NewState(kernel, 2, debV)
		st.LoadNeedsReboot = needsReboot
		st.UVMMajor = 237
		st.Downloads = map[string]string{url1: v1}
		if err := fk.Save(st); err != nil {
			t.Fatal(err)
		}
		r := fakehost.New()
		fk.Register(r)
		return &fault.World{Root: root, Runner: r, Effects: fk.Effects, Boot: func() {
			if err := fk.Boot(); err != nil {
				t.Fatal(err)
			}
		}}
	}
}

func TestFaultsRunfile(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs the flow once per injection point")
	}
	fault.Check(t, fault.Scenario{
		Seed:     runfileSeed(v1, url1),
		Modules:  []modules.Module{New()},
		NewWorld: faultWorld(true),
	})
}

func TestFaultsPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs the flow once per injection point")
	}
	fault.Check(t, fault.Scenario{
		Seed:     &seed.Seed{Version: 1, NVIDIA: &seed.NVIDIA{Version: "535.247.01", Source: SourcePackages}},
		Modules:  []modules.Module{New()},
		NewWorld: faultWorld(false),
	})
}

// TestFaultsUpgrade: a host with runfile driver v1 running and in use,
// reseeded to v2: uninstall, download, install, one reboot, verify.
func TestFaultsUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs the flow once per injection point")
	}
	fault.Check(t, fault.Scenario{
		Seed:    runfileSeed(v2, url2),
		Modules: []modules.Module{New()},
		NewWorld: func(t testing.TB) *fault.World {
			root := host.NewDirRoot(t.TempDir())
			fk := fake.New(t.TempDir(), root.Dir())
			st := fake.NewState(kernel, 1, debV)
			delete(st.Loaded, "nouveau")
			st.Installed["proxmox-headers-"+kernel], st.Installed["build-essential"], st.Installed["dkms"] = "1.0", "1.0", "1.0"
			st.Initramfs = []string{"nouveau"}
			st.Driver = &fake.Driver{Version: v1, Method: "runfile", Module: "nvidia", Kernel: kernel}
			st.DKMS = []fake.DKMS{{Module: "nvidia", Version: v1, Kernel: kernel, State: "installed"}}
			st.Loaded["nvidia"], st.Loaded["nvidia_uvm"] = v1, ""
			st.InUse = true
			st.Downloads = map[string]string{url2: v2}
			if err := fk.Save(st); err != nil {
				t.Fatal(err)
			}
			r := fakehost.New()
			fk.Register(r)
			return &fault.World{Root: root, Runner: r, Effects: fk.Effects, Boot: func() {
				if err := fk.Boot(); err != nil {
					t.Fatal(err)
				}
			}}
		},
	})
}
