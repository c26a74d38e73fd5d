package network

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/modules"
)

// Faults everywhere, including a failed ping (rolled back, then redone on
// the next run) and a crash between the write and the confirmation.
func TestFaults(t *testing.T) {
	fault.Check(t, fault.Scenario{
		Seed:    testSeed(),
		Modules: []modules.Module{quick()},
		NewWorld: func(tb testing.TB) *fault.World {
			root, run, nf, _ := world(tb)
			return &fault.World{Root: root, Runner: run, Effects: func() string { return nf.applied }}
		},
	})
}
