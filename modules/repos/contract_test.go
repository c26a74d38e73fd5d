package repos

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

// The module contract on a host with everything to do: a dry run only
// reads, Check lists exactly the changes Apply makes, and Apply converges.
func TestContract(t *testing.T) {
	testkit.Contract(t, quickModule(), func(t *testing.T) *modules.Env {
		_, _, _, env, _ := world(t, pve8, &seed.Repos{Ceph: "reef", DistUpgrade: true, Packages: []string{"s-tui"}, Proxy: "http://proxy:3128"})
		return env
	})
}
