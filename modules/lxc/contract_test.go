package lxc

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// The module contract on a fresh host: a dry run only reads, Check lists
// exactly the changes Apply makes (the same pass, container.go, runs dry
// and for real), and Apply converges.
func TestContract(t *testing.T) {
	testkit.Contract(t, newModule(), func(t *testing.T) *modules.Env {
		return newWorld(t).env(loadSeed(t, webSeed))
	})
}
