package lxc

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// The module contract on a fresh host: a dry run only reads, Check lists
// exactly the changes Apply makes, and Apply converges.
//
// Only the first holds here so far: this module still reads its plan apart
// from its Apply (Steps.Split), and the plan lists intentions where Apply
// lists its steps. The equality part is skipped until the two are folded
// into one Converge (left from issue 13; see docs/design-notes.md).
func TestContract(t *testing.T) {
	newEnv := func(t *testing.T) *modules.Env {
		return newWorld(t).env(loadSeed(t, webSeed))
	}
	testkit.CheckOnlyReads(t, newModule(), newEnv(t))
	t.Skip("plan and apply are still separate code in this module (Steps.Split): Check == Apply not yet asserted")
}
