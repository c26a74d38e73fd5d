package zfs_test

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs"
)

// The module contract on a host with everything to do: a dry run only
// reads, Check lists exactly the changes Apply makes, and Apply converges.
func TestContract(t *testing.T) {
	testkit.Contract(t, zfs.New(), func(t *testing.T) *modules.Env {
		return newEnv(t).modEnv(testkit.Seed(t, fullSeed))
	})
}
