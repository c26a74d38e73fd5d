// Package fake is a stateful pvecm for tests: nodes with their own roots,
// a cluster whose corosync.conf lock serialises joins, and the checks
// pvecm makes before it lets a node join. Rules are ported from
// pve-cluster 9.1.6 (commit 7091d92) and pve-common 9.2.1 (f665029),
// cited file:line; where no source was read, a comment says so. Every
// call is first checked against pvecm's CLI contract (pve-docs 9.1.3,
// modules/internal/pvecontract), as the real tool checks its schema.
package fake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/pvecontract"
)

// Paths pvecm reads and writes (pve-cluster src/PVE/Cluster/Setup.pm:71-73).
const (
	ClusterConf   = "/etc/pve/corosync.conf"
	LocalConf     = "/etc/corosync/corosync.conf"
	AuthKey       = "/etc/corosync/authkey"
	VMList        = "/etc/pve/.vmlist"
	localLockPath = "/var/lock/pvecm.lock"
)

// Network is every node and cluster the fakes know: pvecm add reaches a
// peer through it by name or address.
type Network struct {
	mu    sync.Mutex
	nodes []*Node
	// Dir holds each cluster's shared /etc/pve (pmxcfs): members' /etc/pve
	// is a symlink to it, so what one node writes there all see. Empty
	// for a one-node network: the cluster's /etc/pve stays the creating
	// node's own (pmxcfs on a lone node is its local database), so that
	// node's root is a plain host.DirRoot (the fault harness needs one).
	Dir string
	// LockTimeout stands in for the 10 s pvecm waits for a lock
	// (pve-cluster src/PVE/CLI/pvecm.pm:412-415, API2/ClusterConfig.pm:
	// 163, 206-219); Hold is how long a join keeps the cluster lock.
	LockTimeout, Hold time.Duration
}

// Cluster is the pmxcfs state shared by the members.
type Cluster struct {
	Name  string
	Dir   string // the shared /etc/pve
	root  *host.DirRoot
	lock  chan struct{} // corosync.conf cfs lock: a join holds it
	mu    sync.Mutex
	nodes []member
}

type member struct {
	name  string
	id    int
	links []string
}

// Node is one host: its root (where /etc/pve, /etc/corosync live), name,
// addresses, root password and certificate fingerprint (for pvecm add
// against it), and the cluster it is in.
type Node struct {
	Net *Network
	// Root is the node's root as modules see it (/etc/pve is the
	// cluster's once the node is a member); Local is its own directory.
	Root        host.Root
	Local       *host.DirRoot
	Name        string
	Addr        string
	Password    string
	Fingerprint string
	cluster     *Cluster
	localLock   sync.Mutex
	// Calls counts pvecm invocations on this node, by subcommand.
	mu    sync.Mutex
	Calls map[string]int
}

// NewNetwork returns a network keeping clusters' /etc/pve under dir, with
// the given lock timing.
func NewNetwork(dir string, lockTimeout, hold time.Duration) *Network {
	return &Network{Dir: dir, LockTimeout: lockTimeout, Hold: hold}
}

// AddNode creates a node with its own root directory.
func (n *Network) AddNode(root, name, addr, password, fingerprint string) *Node {
	nd := &Node{Net: n, Local: host.NewDirRoot(root), Name: name, Addr: addr, Password: password, Fingerprint: fingerprint, Calls: map[string]int{}}
	nd.Root = &pveRoot{local: nd.Local, nd: nd}
	n.mu.Lock()
	n.nodes = append(n.nodes, nd)
	n.mu.Unlock()
	return nd
}

func (n *Network) find(peer string) *Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nd := range n.nodes {
		if nd.Name == peer || nd.Addr == peer {
			return nd
		}
	}
	return nil
}

// Register installs the node's pvecm in r.
func (nd *Node) Register(r *fakehost.Runner) { r.Handle("pvecm", nd.pvecm) }

// Cluster returns the cluster the node is in, or nil.
func (nd *Node) Cluster() *Cluster {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cluster
}

// HoldLocalLock takes the node's /var/lock/pvecm.lock until the returned
// function is called (as a pvecm running elsewhere on the node would).
func (nd *Node) HoldLocalLock() func() {
	nd.localLock.Lock()
	return nd.localLock.Unlock
}

// Members lists the cluster's node names, sorted.
func (c *Cluster) Members() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.nodes {
		out = append(out, m.name)
	}
	sort.Strings(out)
	return out
}

// die is a perl die in a pvecm command: the message on stderr, exit 255
// (the exit status of an uncaught die).
func die(format string, args ...any) fakehost.Result {
	return fakehost.Fail(255, fmt.Sprintf(format, args...))
}

func (nd *Node) pvecm(ctx context.Context, c fakehost.Call) fakehost.Result {
	args := c.Cmd.Args
	if len(args) == 0 {
		return die("ERROR: no command specified\n")
	}
	nd.mu.Lock()
	nd.Calls[args[0]]++
	nd.mu.Unlock()
	// Every call is checked against pvecm's published CLI contract first
	// (modules/internal/pvecontract: options, patterns, link[n] keys), as
	// the real pvecm's schema check runs before it acts.
	call, err := pvecontract.CheckStrict("pvecm", args)
	if err != nil {
		var ce *pvecontract.Error
		if errors.As(err, &ce) {
			return fakehost.Fail(ce.Code, ce.Msg)
		}
		return die("%v\n", err)
	}
	switch call.Command {
	case "create":
		return nd.create(call.Params["clustername"], call.Params)
	case "add":
		return nd.add(ctx, call.Params["hostname"], call.Params, c.Stdin)
	}
	// status, nodes, ...: not modelled (no source read for their output).
	return die("fake pvecm: %s not modelled\n", args[0])
}

func links(opts map[string]string) []string {
	var out []string
	for i := 0; i < 8; i++ {
		if v, ok := opts["link"+strconv.Itoa(i)]; ok {
			addr, _, _ := strings.Cut(strings.TrimPrefix(v, "address="), ",")
			out = append(out, addr)
		}
	}
	return out
}

// takeLocal is PVE::Tools::lock_file on /var/lock/pvecm.lock with the
// (scaled) 10 s timeout; the message is pve-common src/PVE/Tools.pm:157,264.
func (nd *Node) takeLocal() (func(), error) {
	deadline := time.Now().Add(nd.Net.LockTimeout)
	for !nd.localLock.TryLock() {
		if time.Now().After(deadline) {
			//lint:ignore ST1005 pvecm's own message, newline included (PVE::Tools lock_file)
			return nil, fmt.Errorf("can't lock file '%s' - got timeout\n", localLockPath)
		}
		time.Sleep(time.Millisecond)
	}
	return nd.localLock.Unlock, nil
}

// create is API2/ClusterConfig.pm create (:125-170).
func (nd *Node) create(name string, opts map[string]string) fakehost.Result {
	if host.Exists(nd.Root, ClusterConf) {
		return die("cluster config '%s' already exists\n", ClusterConf) // :130
	}
	unlock, err := nd.takeLocal() // :163
	if err != nil {
		return die("%s", err)
	}
	defer unlock()
	cl := &Cluster{Name: name, lock: make(chan struct{}, 1)}
	// The node's /etc/pve becomes the cluster's.
	if err := os.MkdirAll(nd.Local.Path("/etc/pve"), 0o755); err != nil {
		return die("%v\n", err)
	}
	if nd.Net.Dir == "" {
		cl.Dir = nd.Local.Path("/etc/pve")
	} else {
		cl.Dir = filepath.Join(nd.Net.Dir, "pmxcfs-"+name)
		if err := os.Rename(nd.Local.Path("/etc/pve"), cl.Dir); err != nil {
			return die("%v\n", err)
		}
		if err := os.MkdirAll(nd.Local.Path("/etc/pve"), 0o755); err != nil {
			return die("%v\n", err)
		}
	}
	cl.root = host.NewDirRoot(cl.Dir)
	ls := links(opts)
	if len(ls) == 0 {
		ls = []string{nd.Addr}
	}
	cl.nodes = []member{{name: nd.Name, id: 1, links: ls}}
	nd.mu.Lock()
	nd.cluster = cl
	nd.mu.Unlock()
	if err := nd.writeConf(cl); err != nil {
		return die("%v\n", err)
	}
	return fakehost.OK("Writing corosync config to /etc/pve/corosync.conf\nRestart corosync and cluster filesystem\n")
}

// add is pvecm add (CLI/pvecm.pm:391-530) through the API join
// (Cluster/Setup.pm join :681-) or SSH.
func (nd *Node) add(ctx context.Context, peerName string, opts map[string]string, stdin []byte) fakehost.Result {
	useSSH := opts["use_ssh"] == "1"
	var password string
	if !useSSH {
		// PVE::PTY::read_password reads one line from STDIN when it is not
		// a terminal (pve-common src/PVE/PTY.pm:188-195).
		line, _, found := strings.Cut(string(stdin), "\n")
		if !found && line == "" {
			return die("EOF while reading password\n")
		}
		password = line
	}
	unlock, err := nd.takeLocal() // pvecm.pm:412-415
	if err != nil {
		return die("%s", err)
	}
	defer unlock()
	// assert_joinable (Setup.pm:625-679).
	var errs []string
	if host.Exists(nd.Root, AuthKey) {
		errs = append(errs, fmt.Sprintf("authentication key '%s' already exists", AuthKey))
	}
	if host.Exists(nd.Root, ClusterConf) {
		errs = append(errs, fmt.Sprintf("cluster config '%s' already exists", ClusterConf))
	}
	if b, err := nd.Root.ReadFile(VMList); err == nil && strings.Contains(string(b), `"type"`) {
		errs = append(errs, "this host already contains virtual guests")
	}
	if len(errs) > 0 && opts["force"] != "1" {
		return fakehost.Fail(255, "detected the following error(s):\n* "+strings.Join(errs, "\n* ")+"\nCheck if node may join a cluster failed!\n")
	}
	peer := nd.Net.find(peerName)
	if peer == nil {
		// No source read for the exact client error text.
		return die("500 Can't connect to %s:8006 (Name or service not known)\n", peerName)
	}
	cl := peer.Cluster()
	if cl == nil {
		// No source read for the exact text of a peer outside a cluster.
		return die("500 cluster not ready - no quorum?\n")
	}
	if !useSSH {
		if opts["fingerprint"] == "" {
			// manual_verification (Setup.pm:713) asks on a terminal.
			return die("fake pvecm: no --fingerprint: the real pvecm asks on the terminal\n")
		}
		if !strings.EqualFold(opts["fingerprint"], peer.Fingerprint) {
			// cached_fingerprints (Setup.pm:709-710) does not hold the
			// peer's: the client refuses. No source read for the text.
			return die("500 Can't connect to %s:8006 (fingerprint mismatch)\n", peerName)
		}
		if password != peer.Password {
			// No source read for the exact text.
			return die("401 permission denied - invalid PVE ticket\n")
		}
	}
	// The peer's addnode runs under its config change lock: local, then
	// cfs_lock_file('corosync.conf', 10) (API2/ClusterConfig.pm:206-219);
	// the timeout text is PVE/Cluster.pm:628,683.
	select {
	case cl.lock <- struct{}{}:
	case <-time.After(nd.Net.LockTimeout):
		return die("cfs-lock 'file-corosync_conf' error: got lock request timeout\n")
	case <-ctx.Done():
		return die("%v\n", ctx.Err())
	}
	defer func() { <-cl.lock }()
	time.Sleep(nd.Net.Hold)
	cl.mu.Lock()
	for _, m := range cl.nodes {
		if m.name == nd.Name && opts["force"] != "1" {
			cl.mu.Unlock()
			return die("can't add existing node '%s'\n", nd.Name) // :393
		}
	}
	ls := links(opts)
	if len(ls) == 0 {
		ls = []string{nd.Addr}
	}
	for _, m := range cl.nodes {
		for i, a := range m.links {
			for _, b := range ls {
				if a == b {
					cl.mu.Unlock()
					return die("corosync: address '%s' already used on link %d by node '%s'\n", b, i, m.name) // :316
				}
			}
		}
	}
	cl.nodes = append(cl.nodes, member{name: nd.Name, id: len(cl.nodes) + 1, links: ls})
	cl.mu.Unlock()
	// finish_join (Setup.pm:784): the node's /etc/pve is now the
	// cluster's, its own is hidden under the mount.
	nd.mu.Lock()
	nd.cluster = cl
	nd.mu.Unlock()
	if err := nd.writeConf(cl); err != nil {
		return die("%v\n", err)
	}
	return fakehost.OK("successfully added node '" + nd.Name + "' to cluster.\n")
}

// writeConf writes corosync.conf as PVE::Corosync::create_conf lays it out
// (totem cluster_name, one node block per member with ringN_addr) in the
// shared /etc/pve and the node's /etc/corosync, and the auth key.
func (nd *Node) writeConf(cl *Cluster) error {
	cl.mu.Lock()
	var b strings.Builder
	fmt.Fprintf(&b, "logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n")
	for _, m := range cl.nodes {
		fmt.Fprintf(&b, "  node {\n    name: %s\n    nodeid: %d\n    quorum_votes: 1\n", m.name, m.id)
		for i, a := range m.links {
			fmt.Fprintf(&b, "    ring%d_addr: %s\n", i, a)
		}
		b.WriteString("  }\n")
	}
	fmt.Fprintf(&b, "}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: %s\n  config_version: %d\n  ip_version: ipv4-6\n  secauth: on\n  version: 2\n}\n", cl.Name, len(cl.nodes))
	cl.mu.Unlock()
	for _, p := range []string{ClusterConf, LocalConf} {
		if err := nd.Root.WriteFile(p, []byte(b.String()), 0o640, host.Owner{UID: -1, GID: -1}); err != nil {
			return err
		}
	}
	return nd.Root.WriteFile(AuthKey, []byte("fake corosync key\n"), 0o400, host.Owner{UID: -1, GID: -1})
}
