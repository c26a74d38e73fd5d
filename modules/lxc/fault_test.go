package lxc

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/lxc/fake"
)

// The fault seed covers create, clone from a snapshot, drift-free
// converge, GPU raw lines, provisioning steps and snapshots. parallel is 1:
// the harness counts commands to pick its fault and wants one order.
const faultSeed = `
version: 1
nvidia: {version: "580.76.05", source: packages}
lxc:
  parallel: 1
  defaults:
    storage: local-zfs
    template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
    bridge: vmbr0
    onboot: true
  containers:
    "900":
      hostname: base
      features: {nesting: true}
      provision: {features: [base]}
      snapshots: [base]
    "901":
      hostname: gpu
      clone_from: {ctid: 900, snapshot: base}
      memory: 2048
      gpus: [0]
      provision: {features: [base, docker], packages: [htop]}
      health_check: {command: ["true"]}
`

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs the engine hundreds of times")
	}
	fault.Check(t, fault.Scenario{
		Seed:    loadSeed(t, faultSeed),
		Modules: []modules.Module{&Module{Sleep: instant, WaitTries: 5}},
		NewWorld: func(tb testing.TB) *fault.World {
			root := host.NewDirRoot(tb.TempDir())
			pve := &fake.PVE{Dir: tb.TempDir(), Root: root.Dir(), Version: "8.0.9",
				Majors: map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508}}
			r := fakehost.New()
			pve.Register(r)
			// What the nvidia module recorded on this host.
			if err := modules.NewStore(root).Put(DevicesKey, map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 508}); err != nil {
				tb.Fatal(err)
			}
			return &fault.World{Root: root, Runner: r, Effects: pve.Effects, Boot: pve.Boot}
		},
	})
}
