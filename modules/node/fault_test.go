package node

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/modules"
)

func TestFaults(t *testing.T) {
	fault.Check(t, fault.Scenario{
		Seed:    testSeed(),
		Modules: []modules.Module{New()},
		NewWorld: func(tb testing.TB) *fault.World {
			root, run, _ := world(tb)
			return &fault.World{Root: root, Runner: run}
		},
	})
}
