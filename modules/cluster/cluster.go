// Package cluster makes the node a Proxmox VE cluster member with pvecm:
// `pvecm create NAME` on the first node, `pvecm add PEER` on the others.
// It runs right after network and before any module that writes /etc/pve,
// since joining replaces the node's /etc/pve with the cluster's.
//
// Rules taken from pve-cluster 9.1.6 (7091d92) and pve-common 9.2.1
// (f665029):
//   - pvecm add reads the peer's root password with PVE::PTY::read_password,
//     which reads one line from STDIN when STDIN is not a terminal
//     (pve-common src/PVE/PTY.pm:188-195; pvecm.pm:405-407): the password
//     goes on stdin, never in argv.
//   - without --fingerprint the API join asks on the terminal whether to
//     trust the peer's certificate (Cluster/Setup.pm:709-713), so the seed
//     requires one for a password join.
//   - a node holding guests may not join ("this host already contains
//     virtual guests", Cluster/Setup.pm:639-641): checked here first, from
//     /etc/pve/.vmlist as PVE::Cluster::get_vmlist reads it.
//   - pvecm takes /var/lock/pvecm.lock for 10 s (pvecm.pm:412-415) and the
//     peer's addnode the cluster-wide corosync.conf lock for 10 s
//     (API2/ClusterConfig.pm:206-219): a join that times out on either is
//     retried with a backoff, since another node's join holds it.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// Files read.
const (
	CorosyncConf = "/etc/pve/corosync.conf"
	VMList       = "/etc/pve/.vmlist"
	PvecmCmd     = "pvecm"
)

// Module is the cluster module.
type Module struct {
	// Sleep waits between retries (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
	// RetryFor bounds the retries while a lock is held (default 10 min).
	RetryFor time.Duration
	// SecretOwner is the uid the password file must belong to (root).
	SecretOwner int
}

// New returns the module.
func New() *Module { return &Module{Sleep: host.Sleep, RetryFor: 10 * time.Minute} }

func (m *Module) Name() string             { return "cluster" }
func (m *Module) Active(s *seed.Seed) bool { return s.Cluster != nil }

// Membership is what /etc/pve/corosync.conf says about the node's cluster.
type Membership struct {
	Name  string
	Nodes []Member
}

// Member is one node block of corosync.conf.
type Member struct {
	Name  string
	Addrs []string
}

// ReadMembership parses corosync.conf (totem.cluster_name and the nodelist
// node blocks); found is false when the node is in no cluster.
func ReadMembership(r host.Root) (Membership, bool, error) {
	b, err := r.ReadFile(CorosyncConf)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return Membership{}, false, nil
	}
	if err != nil {
		return Membership{}, false, fmt.Errorf("%s: %w", CorosyncConf, err)
	}
	var ms Membership
	var stack []string
	var cur *Member
	for _, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasSuffix(line, "{"):
			name := strings.TrimSpace(strings.TrimSuffix(line, "{"))
			stack = append(stack, name)
			if name == "node" && len(stack) == 2 && stack[0] == "nodelist" {
				ms.Nodes = append(ms.Nodes, Member{})
				cur = &ms.Nodes[len(ms.Nodes)-1]
			}
		case line == "}":
			if len(stack) > 0 {
				if stack[len(stack)-1] == "node" {
					cur = nil
				}
				stack = stack[:len(stack)-1]
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case len(stack) == 1 && stack[0] == "totem" && k == "cluster_name":
				ms.Name = v
			case cur != nil && k == "name":
				cur.Name = v
			case cur != nil && strings.HasPrefix(k, "ring") && strings.HasSuffix(k, "_addr"):
				cur.Addrs = append(cur.Addrs, v)
			}
		}
	}
	if ms.Name == "" {
		return ms, true, fmt.Errorf("%s has no totem cluster_name", CorosyncConf)
	}
	return ms, true, nil
}

// has reports whether peer (a name or an address) is a member.
func (ms Membership) has(peer string) bool {
	for _, n := range ms.Nodes {
		if strings.EqualFold(n.Name, peer) {
			return true
		}
		for _, a := range n.Addrs {
			if a == peer {
				return true
			}
		}
	}
	return false
}

// Converge implements modules.Module.
func (m *Module) Converge(ctx context.Context, st *modules.Steps) error {
	env := st.Env
	c := env.Seed.Cluster
	ms, in, err := ReadMembership(env.Root)
	if err != nil {
		return err
	}
	if in {
		return judgeMembership(c, ms)
	}
	if c.Create != nil {
		args := append([]string{"create", c.Create.Name}, linkArgs(c.Create.Links)...)
		return st.Do("create cluster "+c.Create.Name, func() error {
			return m.pvecm(ctx, env, args, nil)
		})
	}
	j := c.Join
	if err := noGuests(env.Root); err != nil {
		return err
	}
	args := []string{"add", j.Peer}
	var stdin []byte
	if j.UseSSH {
		args = append(args, "--use_ssh", "1")
	} else {
		args = append(args, "--fingerprint", j.Fingerprint)
	}
	args = append(args, linkArgs(j.Links)...)
	what := "join the cluster through " + j.Peer
	if j.Name != "" {
		what = fmt.Sprintf("join cluster %s through %s", j.Name, j.Peer)
	}
	return st.Do(what, func() error {
		if !j.UseSSH {
			pw, err := readSecret(env.Root, j.PasswordFile, m.SecretOwner)
			if err != nil {
				return err
			}
			stdin = append([]byte(pw), '\n')
		}
		if err := m.pvecm(ctx, env, args, stdin); err != nil {
			return err
		}
		got, in, err := ReadMembership(env.Root)
		switch {
		case err != nil:
			return err
		case !in:
			return fmt.Errorf("pvecm add succeeded but %s is missing", CorosyncConf)
		case j.Name != "" && got.Name != j.Name:
			return fmt.Errorf("joined cluster %q through %s, but the seed names %q", got.Name, j.Peer, j.Name)
		}
		return nil
	})
}

// judgeMembership: a node already in the seed's cluster converges with no
// change; any other cluster is an error (leaving one is not Phoenix's to
// do: pvecm delnode on a member, then a reinstall, per pvecm.adoc).
func judgeMembership(c *seed.Cluster, ms Membership) error {
	if c.Create != nil {
		if ms.Name != c.Create.Name {
			return fmt.Errorf("this node is in cluster %q, the seed creates %q", ms.Name, c.Create.Name)
		}
		return nil
	}
	j := c.Join
	switch {
	case j.Name != "" && ms.Name != j.Name:
		return fmt.Errorf("this node is in cluster %q, the seed joins %q", ms.Name, j.Name)
	case j.Name == "" && !ms.has(j.Peer):
		return fmt.Errorf("this node is in cluster %q, which does not list %s; the seed joins %s's cluster", ms.Name, j.Peer, j.Peer)
	}
	return nil
}

func linkArgs(links []string) []string {
	var out []string
	for i, l := range links {
		out = append(out, "--link"+strconv.Itoa(i), l)
	}
	return out
}

// noGuests refuses a join on a node with guests, as assert_joinable does.
func noGuests(r host.Root) error {
	b, err := r.ReadFile(VMList)
	if err != nil {
		return nil // no pmxcfs .vmlist: no guests registered
	}
	var vl struct {
		IDs map[string]struct {
			Node string `json:"node"`
			Type string `json:"type"`
		} `json:"ids"`
	}
	if err := json.Unmarshal(b, &vl); err != nil {
		return fmt.Errorf("%s: %w", VMList, err)
	}
	if len(vl.IDs) > 0 {
		var ids []string
		for id, g := range vl.IDs {
			ids = append(ids, g.Type+" "+id)
		}
		return fmt.Errorf("this host already contains virtual guests (%s): pvecm refuses to join it; move or remove them first", strings.Join(ids, ", "))
	}
	return nil
}

// lockTimeout reports a pvecm failure caused by a held lock: the local
// /var/lock/pvecm.lock (pve-common src/PVE/Tools.pm:157,264) or the
// cluster's corosync.conf lock (pve-cluster src/PVE/Cluster.pm:628,683).
func lockTimeout(err error) bool {
	var ee *host.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	s := ee.Stderr
	return strings.Contains(s, "got lock request timeout") ||
		strings.Contains(s, "can't lock file '/var/lock/pvecm.lock' - got timeout")
}

// pvecm runs pvecm, retrying while a lock is held: 2 s, 4 s, ... at most
// 60 s apart, for up to RetryFor.
func (m *Module) pvecm(ctx context.Context, env *modules.Env, args []string, stdin []byte) error {
	sleep, retryFor := m.Sleep, m.RetryFor
	if sleep == nil {
		sleep = host.Sleep
	}
	if retryFor == 0 {
		retryFor = 10 * time.Minute
	}
	delay, waited := 2*time.Second, time.Duration(0)
	for {
		_, err := env.Runner.Run(ctx, host.Cmd{Name: PvecmCmd, Args: args, Stdin: stdin, Timeout: 10 * time.Minute})
		if err == nil {
			return nil
		}
		if !lockTimeout(err) || waited+delay > retryFor {
			return err
		}
		env.Say(fmt.Sprintf("pvecm %s: a lock is held (another node joining?); trying again in %s", args[0], delay))
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		waited += delay
		delay = min(delay*2, time.Minute)
	}
}

// readSecret reads the password file: a regular file (no symlink), not
// readable by group or others, owned by owner; the first line.
func readSecret(r host.Root, p string, owner int) (string, error) {
	fi, err := r.Lstat(p)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("password_file %s: not a regular file (symlinks are refused)", p)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("password_file %s: mode %04o: must be 0600 (readable by root only)", p, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != owner {
		return "", fmt.Errorf("password_file %s: owned by uid %d, not root", p, st.Uid)
	}
	b, err := r.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("password_file %s is empty", p)
	}
	return pw, nil
}
