package users

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/modules"
)

func TestFaults(t *testing.T) {
	needShadowTools(t)
	fault.Check(t, fault.Scenario{
		Seed:    testSeed(),
		Modules: []modules.Module{New()},
		NewWorld: func(tb testing.TB) *fault.World {
			b := newBox(tb)
			return &fault.World{Root: b.root, Runner: b.run, Effects: b.pve.Dump}
		},
		// The shadow tools' backups (/etc/passwd- ...) hold whatever the
		// previous run left: how many runs there were is not state.
		Ignore: []string{"/etc/*-"},
	})
}
