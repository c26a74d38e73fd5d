package network

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// Check only reads: on a host with everything to do, it lists the work
// and makes no change to the root.
func TestCheckOnlyReads(t *testing.T) {
	_, _, _, env := world(t)
	testkit.CheckOnlyReads(t, quick(), env)
}
