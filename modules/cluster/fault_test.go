package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/cluster/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// TestFaults: creating the cluster on a lone node, with every command
// failing or the process crashing at every step, converges on the next
// run to the same cluster (one member) and the same files. The node is a
// one-node network (fake.Network with no Dir): its /etc/pve is its own, so
// its root is the plain DirRoot the harness snapshots.
func TestFaults(t *testing.T) {
	var slept []time.Duration
	var mu sync.Mutex
	fault.Check(t, fault.Scenario{
		Seed:    testkit.Seed(t, createSeed),
		Modules: []modules.Module{module(&slept, &mu)},
		NewWorld: func(t testing.TB) *fault.World {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc/pve"), 0o755); err != nil {
				t.Fatal(err)
			}
			nd := fake.NewNetwork("", time.Second, 0).AddNode(root, "pve1", "192.168.10.1", password, fp)
			r := fakehost.New()
			nd.Register(r)
			return &fault.World{Root: nd.Local, Runner: r, Effects: func() string {
				if cl := nd.Cluster(); cl != nil {
					return cl.Name + ": " + strings.Join(cl.Members(), ",")
				}
				return "no cluster"
			}}
		},
	})
}
