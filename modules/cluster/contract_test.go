package cluster_test

import (
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// The module contract on a fresh node: a dry run only reads, Check lists
// exactly the changes Apply makes, and Apply converges.
func TestContract(t *testing.T) {
	var slept []time.Duration
	var mu sync.Mutex
	testkit.Contract(t, module(&slept, &mu), func(t *testing.T) *modules.Env {
		_, nodes := lab(t, 0, time.Second)
		return testkit.Env(testkit.Seed(t, createSeed), nodes[0].run, nodes[0].fake.Root)
	})
}
