package nvidia

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
)

// The module contract on a fresh GPU host: a dry run only reads, Check
// lists exactly the changes Apply makes, and Apply converges.
//
// Only the first holds here so far: this module still reads its plan apart
// from its phased Apply (Steps.Split), and the plan lists intentions
// ("reboot to unload nouveau") where Apply lists the steps of one boot.
// The equality part is skipped until the two are folded into one Converge
// (left from issue 13; see docs/design-notes.md).
func TestContract(t *testing.T) {
	newEnv := func(t *testing.T) *modules.Env {
		r := newRig(t, fake.NewState(kernel, 1, debV))
		return r.env(runfileSeed(v1, url1))
	}
	testkit.CheckOnlyReads(t, New(), newEnv(t))
	t.Skip("plan and apply are still separate code in this module (Steps.Split): Check == Apply not yet asserted")
}
