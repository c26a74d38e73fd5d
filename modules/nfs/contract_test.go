package nfs_test

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/nfs"
)

// The module contract on a host with everything to do: a dry run only
// reads, Check lists exactly the changes Apply makes, and Apply converges.
func TestContract(t *testing.T) {
	testkit.Contract(t, nfs.New(), func(t *testing.T) *modules.Env {
		return newWorld(t).env(testkit.Seed(t, nfsSeed))
	})
}
