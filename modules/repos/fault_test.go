package repos

import (
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

func TestFaults(t *testing.T) {
	for name, fs := range map[string]map[string]string{"pve8": pve8, "pve9": pve9} {
		t.Run(name, func(t *testing.T) {
			ceph := "reef"
			if name == "pve9" {
				ceph = "squid"
			}
			r := &seed.Repos{Ceph: ceph, DistUpgrade: true, Packages: []string{"s-tui", "jq"}, ForceIPv4: true}
			fault.Check(t, fault.Scenario{
				Seed:    &seed.Seed{Version: 1, Repos: r},
				Modules: []modules.Module{quickModule()},
				NewWorld: func(tb testing.TB) *fault.World {
					root, run, db, _, _ := world(tb, fs, r)
					return &fault.World{Root: root, Runner: run, Effects: func() string {
						// Package state, and whether lists were ever
						// refreshed and the system upgraded: counts differ
						// with retries, their being done does not.
						return strings.Join(db.Installed(), " ") + " updated=" + yes(db.Updates > 0) + " upgraded=" + yes(db.Upgrades > 0)
					}}
				},
			})
		})
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
