package kernel

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// Check only reads: on a host with everything to do, it lists the work
// and makes no change to the root.
func TestCheckOnlyReads(t *testing.T) {
	b := newBox(t, "root=ZFS=rpool/ROOT/pve-1 boot=zfs\\n")
	testkit.CheckOnlyReads(t, New(), b.env)
}
