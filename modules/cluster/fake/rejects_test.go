package fake

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// TestPvecmRejects feeds the fake calls that the real pvecm refuses in its
// schema check (pve-docs 9.1.3 pvecm.1 synopsis and apidata.js, through
// modules/internal/pvecontract), and one it refuses in pvecm.pm itself. Each
// must fail with exit 255 and leave the node outside any cluster.
func TestPvecmRejects(t *testing.T) {
	n := NewNetwork(t.TempDir(), 0, 0)
	nd := n.AddNode(t.TempDir(), "pve1", "192.0.2.1", "", "")
	calls := []struct{ args, stderr string }{
		{"frob", "unknown command"},
		{"create", "not enough arguments"},
		{"create lab extra", "too many arguments"},
		{"create lab --bogus 1", "Unknown option: bogus"},
		{"create " + strings.Repeat("a", 16), "clustername: value may only be 15 characters long"},
		{"create la_b", "clustername: invalid format - value does not look like a valid node name"},
		{"create lab --nodeid 0", "nodeid: value must have a minimum value of 1"},
		{"create lab --votes 0", "votes: value must have a minimum value of 1"},
		{"create lab --link0 address=192.0.2.1,priority=256", "link0.priority: value must have a maximum value of 255"},
		{"create lab --link0 address=192.0.2.1,weight=1", "invalid key in comma-separated list property: weight"},
		{"create lab --link8 192.0.2.1", "Unknown option: link8"},
		{"add", "not enough arguments"},
		{"add 192.0.2.2 --fingerprint AB:CD", "fingerprint: value does not match the regex pattern"},
		{"add 192.0.2.2 --use_ssh maybe", "unable to parse boolean option"},
		{"add 192.0.2.2 --votes -1", "votes: value must have a minimum value of 0"},
	}
	for _, c := range calls {
		r := nd.pvecm(context.Background(), fakehost.Call{Cmd: host.Cmd{Name: "pvecm", Args: strings.Fields(c.args)}})
		if testing.Verbose() {
			t.Logf("pvecm %s -> %d %q", c.args, r.Code, strings.SplitN(r.Stderr, "\n", 3))
		}
		if r.Code != 255 || !strings.Contains(r.Stderr, c.stderr) {
			t.Errorf("pvecm %s: exit %d, stderr %q; want 255 and %q", c.args, r.Code, r.Stderr, c.stderr)
		}
	}
	// The same node still forms a cluster with a well-formed call, so the
	// refusals above are the schema's and not a broken fake.
	if nd.Cluster() != nil {
		t.Errorf("a refused call formed a cluster: %+v", nd.Cluster())
	}
	if r := nd.pvecm(context.Background(), fakehost.Call{Cmd: host.Cmd{Name: "pvecm", Args: strings.Fields("create lab --link0 192.0.2.1")}}); r.Code != 0 {
		t.Errorf("pvecm create lab --link0 192.0.2.1: exit %d, stderr %q; want a cluster", r.Code, r.Stderr)
	}
	t.Logf("pvecm: %d rejected calls refused", len(calls))
}
