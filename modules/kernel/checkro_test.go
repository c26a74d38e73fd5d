package kernel

import (
	"context"
	"testing"

	"github.com/phoenix-pve/phoenix/modules/testkit"
)

// Check only reads: on a host with everything to do, it lists the work
// and makes no change to the root.
func TestCheckOnlyReads(t *testing.T) {
	b := newBox(t, "root=ZFS=rpool/ROOT/pve-1 boot=zfs\\n")
	env := b.env
	ro := testkit.ReadOnly(env.Root)
	env.Root = ro
	pending, err := New().Check(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 {
		t.Error("nothing pending: the test proves nothing")
	}
	if len(ro.Writes) != 0 {
		t.Errorf("Check changed the root: %q", ro.Writes)
	}
}
