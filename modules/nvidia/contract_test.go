package nvidia

import (
	"context"
	"fmt"
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

// The module contract on a fresh GPU host, for both sources: a dry run
// only reads, Check lists exactly the changes Apply makes (up to the reboot
// that unloads nouveau), and Apply converges. Then the same again after
// that reboot, which is the rest of the work.
func TestContract(t *testing.T) {
	for _, s := range []*seed.Seed{runfileSeed(v1, url1), packagesSeed("535.247.01")} {
		t.Run(s.NVIDIA.Source, func(t *testing.T) {
			var r *rig
			testkit.Contract(t, New(), func(t *testing.T) *modules.Env {
				r = newRig(t, fake.NewState(kernel, 1, debV))
				return r.env(s)
			})
			r.boot()
			planned, err := modules.Check(context.Background(), r.mod, r.env(s))
			if err != nil {
				t.Fatal(err)
			}
			res := r.mustFinish(s)
			if fmt.Sprint(planned) != fmt.Sprint(res.Changed) {
				t.Errorf("after the reboot, Check listed what Apply did not do:\ncheck: %q\napply: %q", planned, res.Changed)
			}
			if todo := r.check(s); len(todo) != 0 {
				t.Errorf("not converged: %q", todo)
			}
		})
	}
}
