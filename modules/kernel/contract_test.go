package kernel

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// The module contract on a host with everything to do: a dry run only
// reads, Check lists exactly the changes Apply makes, and Apply converges.
func TestContract(t *testing.T) {
	testkit.Contract(t, New(), func(t *testing.T) *modules.Env {
		b := newBox(t, "root=ZFS=rpool/ROOT/pve-1 boot=zfs\\n")
		return b.env
	})
}
