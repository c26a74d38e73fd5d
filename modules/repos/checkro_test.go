package repos

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

// Check only reads: on a host with everything to do, it lists the work
// and makes no change to the root.
func TestCheckOnlyReads(t *testing.T) {
	_, _, _, env, m := world(t, pve8, &seed.Repos{Ceph: "reef", DistUpgrade: true, Packages: []string{"s-tui"}, Proxy: "http://proxy:3128"})
	testkit.CheckOnlyReads(t, m, env)
}
