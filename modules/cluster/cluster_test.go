package cluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/cluster"
	"github.com/phoenix-pve/phoenix/modules/cluster/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

const (
	fp       = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
	password = "correct horse battery staple"
)

type node struct {
	fake *fake.Node
	run  *fakehost.Runner
}

// lab is a network of three fresh nodes. A join holds the cluster lock for
// hold; pvecm gives up on a lock after lockTimeout (the real 10 s, scaled).
func lab(t *testing.T, hold, lockTimeout time.Duration) (*fake.Network, []node) {
	t.Helper()
	base := t.TempDir()
	net := fake.NewNetwork(base, lockTimeout, hold)
	var out []node
	for i, name := range []string{"pve1", "pve2", "pve3"} {
		root := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(root, "etc/pve"), 0o755); err != nil {
			t.Fatal(err)
		}
		nd := net.AddNode(root, name, "192.168.10."+string(rune('1'+i)), password, fp)
		if err := os.MkdirAll(filepath.Join(root, "etc/phoenix"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/phoenix/cluster.password"), []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := fakehost.New()
		nd.Register(r)
		out = append(out, node{fake: nd, run: r})
	}
	return net, out
}

func module(slept *[]time.Duration, mu *sync.Mutex) *cluster.Module {
	return &cluster.Module{
		RetryFor:    10 * time.Minute,
		SecretOwner: os.Getuid(),
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*slept = append(*slept, d)
			mu.Unlock()
			// Scaled: a second of backoff is a millisecond here.
			return host.Sleep(ctx, d/1000)
		},
	}
}

const createSeed = "cluster:\n  create:\n    name: lab\n    links: [192.168.10.1]\n"

func joinSeed(peer, links string) string {
	return "cluster:\n  join:\n    name: lab\n    peer: " + peer + "\n    fingerprint: " + fp + "\n    password_file: /etc/phoenix/cluster.password\n    links: [" + links + "]\n"
}

func apply(t *testing.T, m *cluster.Module, n node, y string) (modules.Result, error) {
	t.Helper()
	env := testkit.Env(testkit.Seed(t, y), n.run, n.fake.Root)
	return modules.Apply(context.Background(), m, env)
}

func check(t *testing.T, m *cluster.Module, n node, y string) ([]string, error) {
	t.Helper()
	env := testkit.Env(testkit.Seed(t, y), n.run, n.fake.Root)
	return modules.Check(context.Background(), m, env)
}

// TestThreeNodesJoinInParallel: pve1 creates the cluster; pve2 and pve3
// join at the same time. The cluster lock lets one join at a time, so the
// other's pvecm add times out on it and is retried with a backoff until it
// gets through. Re-running converges with no pvecm call.
func TestThreeNodesJoinInParallel(t *testing.T) {
	_, ns := lab(t, 40*time.Millisecond, 5*time.Millisecond)
	var mu sync.Mutex
	var slept []time.Duration
	m := module(&slept, &mu)

	if ch, err := check(t, m, ns[0], createSeed); err != nil || strings.Join(ch, ";") != "create cluster lab" {
		t.Fatalf("check: %q %v", ch, err)
	}
	if len(ns[0].run.Calls()) != 0 {
		t.Fatalf("Check ran %s", ns[0].run.Log())
	}
	if _, err := apply(t, m, ns[0], createSeed); err != nil {
		t.Fatal(err)
	}
	if got := ns[0].run.Log(); got != "pvecm create lab --link0 192.168.10.1\n" {
		t.Fatalf("create: %q", got)
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := 1; i <= 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = apply(t, m, ns[i], joinSeed("192.168.10.1", ns[i].fake.Addr))
		}(i)
	}
	wg.Wait()
	for i := 1; i <= 2; i++ {
		if errs[i] != nil {
			t.Fatalf("%s: %v (backoff %v, calls %v %v)", ns[i].fake.Name, errs[i], slept, ns[1].fake.Calls, ns[2].fake.Calls)
		}
	}
	cl := ns[0].fake.Cluster()
	if got := strings.Join(cl.Members(), ","); got != "pve1,pve2,pve3" {
		t.Fatalf("members %s", got)
	}
	adds := ns[1].fake.Calls["add"] + ns[2].fake.Calls["add"]
	if adds < 3 || len(slept) == 0 || slept[0] != 2*time.Second {
		t.Fatalf("the second join must have hit the lock and been retried: %d adds, backoff %v", adds, slept)
	}
	for i, n := range ns {
		log := n.run.Log()
		if strings.Contains(log, password) || strings.Contains(log, "horse") {
			t.Fatalf("password in argv: %s", log)
		}
		if i > 0 && !strings.Contains(log, "pvecm add 192.168.10.1 --fingerprint "+fp+" --link0 "+n.fake.Addr+"\n") {
			t.Errorf("%s: %s", n.fake.Name, log)
		}
		ms, in, err := cluster.ReadMembership(n.fake.Root)
		if err != nil || !in || ms.Name != "lab" || len(ms.Nodes) != 3 {
			t.Errorf("%s: corosync.conf says %+v %v %v", n.fake.Name, ms, in, err)
		}
	}
	// Repeating: every node converges with no call.
	for i, n := range ns {
		n.run.Reset()
		y := createSeed
		if i > 0 {
			y = joinSeed("192.168.10.1", n.fake.Addr)
		}
		if ch, err := check(t, m, n, y); err != nil || len(ch) != 0 {
			t.Errorf("%s: check after join: %q %v", n.fake.Name, ch, err)
		}
		if res, err := apply(t, m, n, y); err != nil || len(res.Changed) != 0 || len(n.run.Calls()) != 0 {
			t.Errorf("%s: rerun %+v %v %s", n.fake.Name, res, err, n.run.Log())
		}
	}
	// /etc/pve is the cluster's: what pve3 writes there, pve1 sees.
	if err := ns[2].fake.Root.WriteFile("/etc/pve/storage.cfg", []byte("dir: shared\n"), 0o640, testkitOwner()); err != nil {
		t.Fatal(err)
	}
	if b, err := ns[0].fake.Root.ReadFile("/etc/pve/storage.cfg"); err != nil || string(b) != "dir: shared\n" {
		t.Fatalf("pmxcfs not shared: %q %v", b, err)
	}
}

func TestClusterRefusals(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	_, ns := lab(t, 0, 5*time.Millisecond)
	m := module(&slept, &mu)
	if _, err := apply(t, m, ns[0], createSeed); err != nil {
		t.Fatal(err)
	}
	// In another cluster: an error, for create and join alike.
	if _, err := check(t, m, ns[0], strings.Replace(createSeed, "name: lab", "name: prod", 1)); err == nil || !strings.Contains(err.Error(), `in cluster "lab", the seed creates "prod"`) {
		t.Errorf("create other: %v", err)
	}
	if _, err := check(t, m, ns[0], strings.Replace(joinSeed("192.168.10.9", "192.168.10.1"), "name: lab", "name: prod", 1)); err == nil || !strings.Contains(err.Error(), `the seed joins "prod"`) {
		t.Errorf("join other: %v", err)
	}

	// Guests: refused before pvecm runs.
	if err := os.WriteFile(ns[1].fake.Root.Path(cluster.VMList), []byte(`{"version":3,"ids":{"100":{"node":"pve2","type":"lxc","version":1}}}`), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := apply(t, m, ns[1], joinSeed("192.168.10.1", ""))
	if err == nil || !strings.Contains(err.Error(), "this host already contains virtual guests (lxc 100)") || len(ns[1].run.Calls()) != 0 {
		t.Fatalf("guests: %v %s", err, ns[1].run.Log())
	}
	// The fake refuses it too, as assert_joinable does.
	_, err = ns[1].run.Run(context.Background(), hostCmd("pvecm", []string{"add", "192.168.10.1", "--fingerprint", fp}, password+"\n"))
	if err == nil || !strings.Contains(err.Error(), "* this host already contains virtual guests\nCheck if node may join a cluster failed!") {
		t.Fatalf("fake: %v", err)
	}
	os.Remove(ns[1].fake.Root.Path(cluster.VMList))
	// The fake checks every call against pvecm's published contract.
	_, err = ns[1].run.Run(context.Background(), hostCmd("pvecm", []string{"add", "192.168.10.1", "--fingerprint", "abc", "--link9", "10.0.0.1"}, ""))
	if err == nil || !strings.Contains(err.Error(), "Unknown option: link9") {
		t.Fatalf("contract: %v", err)
	}
	_, err = ns[1].run.Run(context.Background(), hostCmd("pvecm", []string{"add", "192.168.10.1", "--fingerprint", "abc"}, ""))
	if err == nil || !strings.Contains(err.Error(), "400 Parameter verification failed.\nfingerprint: ") {
		t.Fatalf("contract: %v", err)
	}
	ns[1].run.Reset()

	// A password file others can read: refused, pvecm not run.
	os.Chmod(ns[1].fake.Root.Path("/etc/phoenix/cluster.password"), 0o644)
	if _, err := apply(t, m, ns[1], joinSeed("192.168.10.1", "")); err == nil || !strings.Contains(err.Error(), "must be 0600") || len(ns[1].run.Calls()) != 0 {
		t.Fatalf("0644 password: %v", err)
	}
	os.Chmod(ns[1].fake.Root.Path("/etc/phoenix/cluster.password"), 0o600)

	// A wrong password or fingerprint is not a lock: not retried.
	os.WriteFile(ns[1].fake.Root.Path("/etc/phoenix/cluster.password"), []byte("wrong\n"), 0o600)
	slept = nil
	if _, err := apply(t, m, ns[1], joinSeed("192.168.10.1", "")); err == nil || !strings.Contains(err.Error(), "401") || len(slept) != 0 {
		t.Fatalf("wrong password: %v (backoff %v)", err, slept)
	}
	if strings.Contains(ns[1].run.Log(), "wrong") {
		t.Fatal("password in argv")
	}
	os.WriteFile(ns[1].fake.Root.Path("/etc/phoenix/cluster.password"), []byte(password+"\n"), 0o600)
	bad := strings.Replace(joinSeed("192.168.10.1", ""), "9F:86", "00:00", 1)
	if _, err := apply(t, m, ns[1], bad); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("wrong fingerprint: %v", err)
	}
	// A lock that never frees: retried for RetryFor, then the error.
	m.RetryFor = 10 * time.Second
	slept = nil
	unlock := ns[1].fake.HoldLocalLock()
	_, err = apply(t, m, ns[1], joinSeed("192.168.10.1", ""))
	unlock()
	if err == nil || !strings.Contains(err.Error(), "got timeout") || len(slept) != 2 {
		t.Fatalf("held lock: %v (backoff %v)", err, slept)
	}
	// Then the join goes through.
	if _, err := apply(t, m, ns[1], joinSeed("192.168.10.1", "")); err != nil {
		t.Fatal(err)
	}
}
