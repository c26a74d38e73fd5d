package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/etchosts"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	Interfaces = "/etc/network/interfaces"
	// InterfacesNew is a network change staged in the GUI: PVE writes
	// there instead of Interfaces (pve-common src/PVE/INotify.pm:44-46,
	// the shadow file), its "Apply Configuration" renames it over
	// Interfaces and runs ifreload (pve-manager PVE/API2/Network.pm:
	// 913-935), and pvenetcommit.service does the rename at boot
	// (pve-manager services/pvenetcommit.service).
	InterfacesNew = Interfaces + ".new"
	// DropIn is where Phoenix wrote its bridges before it wrote them into
	// Interfaces; it is removed.
	DropIn      = "/etc/network/interfaces.d/phoenix"
	ResolvConf  = "/etc/resolv.conf"
	ResolvedDir = "/etc/systemd/resolved.conf.d"
	Resolved    = ResolvedDir + "/phoenix.conf"
	// sourceBlock is the managed block id that added the drop-in's source
	// line (removed with the drop-in).
	sourceBlock = "network"
	// pendingKey is the Store key of the unconfirmed change: the files as
	// they were before it.
	pendingKey = "network/pending"
	// disabledPrefix marks lines of /etc/network/interfaces that Phoenix
	// commented out when the drop-in defined that interface; they are
	// restored, then replaced in place.
	disabledPrefix = "#phoenix# "
)

// Module is the network module.
type Module struct {
	// Attempts is how many pings the gateway gets before the change is
	// rolled back. Default 5.
	Attempts int
	// Interval is the wait between pings. Default 2s.
	Interval time.Duration
	// Sleep waits between pings; tests replace it.
	Sleep func(context.Context, time.Duration) error
}

var _ modules.Module = (*Module)(nil)

// New returns the network module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "network" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Network != nil }

// plan is the wanted files and what the apply step must do with them.
type plan struct {
	links    files.Plan // systemd .link files pinning the ports' names (also first in ifaces)
	ifaces   files.Plan // interfaces files: a change needs ifreload
	staged   files.Plan // the pending GUI change, when there is one
	dns      files.Plan // resolver files
	hosts    files.Plan // /etc/hosts entry: written once the change is confirmed
	resolved bool       // dns goes to systemd-resolved
	gateway  netip.Addr
	notes    []string
}

func (m *Module) plan(env *modules.Env) (*plan, error) {
	n := env.Seed.Network
	mgmt := n.Management
	if mgmt.Name == "" {
		mgmt.Name = "vmbr0"
	}
	bridges := append([]seed.Bridge{mgmt}, n.Bridges...)
	p := &plan{}
	if mgmt.Gateway != "" {
		gw, err := netip.ParseAddr(mgmt.Gateway)
		if err != nil {
			return nil, fmt.Errorf("management.gateway: %w", err)
		}
		p.gateway = gw
	}
	links, err := pin(env.Root, bridges)
	if err != nil {
		return nil, err
	}
	p.links = links.files
	p.notes = append(p.notes, links.notes...)
	sts, _, err := stanzas(bridges)
	if err != nil {
		return nil, err
	}
	main, err := r(env.Root, Interfaces)
	if err != nil {
		return nil, err
	}
	mode := fs.FileMode(0o644)
	if fi, err := env.Root.Stat(Interfaces); err == nil {
		mode = fi.Mode().Perm()
	}
	newMain, err := withBridges(main, sts)
	if err != nil {
		return nil, err
	}
	// The .link files come first: names pinned before any bridge-ports
	// line names them. They take effect at the next boot and keep the
	// names the kernel gives now, so a kernel that would rename the NICs
	// cannot cut the host off; a rollback removes them with the rest.
	p.ifaces = append(slices.Clone(p.links), files.File{Path: Interfaces, Data: newMain, Mode: mode, Why: "bridges " + names(bridges)})
	if host.Exists(env.Root, DropIn) {
		p.ifaces = append(p.ifaces, files.File{Path: DropIn, Absent: true, Why: "bridges moved into " + Interfaces + ", where Proxmox reads them"})
	}
	// A pending GUI change: neither overwritten (the admin's edit stays
	// pending) nor left to undo Phoenix's bridges when it is applied or
	// committed at boot: the bridges go into it too.
	if host.Exists(env.Root, InterfacesNew) {
		staged, err := r(env.Root, InterfacesNew)
		if err != nil {
			return nil, err
		}
		newStaged, err := withBridges(staged, sts)
		if err != nil {
			return nil, err
		}
		nmode := fs.FileMode(0o644)
		if fi, err := env.Root.Stat(InterfacesNew); err == nil {
			nmode = fi.Mode().Perm()
		}
		p.staged = files.Plan{{Path: InterfacesNew, Data: newStaged, Mode: nmode, Why: "bridges " + names(bridges) + " in the pending GUI change"}}
		p.notes = append(p.notes, "a network change staged in the GUI is pending ("+InterfacesNew+"): kept pending, with Phoenix's bridges written into it too, so applying it (GUI \"Apply Configuration\", or pvenetcommit at the next boot) keeps them; review or revert it in the GUI")
	}
	if len(n.DNS) > 0 || len(n.Search) > 0 {
		if err := m.planDNS(env.Root, n, p); err != nil {
			return nil, err
		}
	}
	// The host module's /etc/hosts entry follows the management address:
	// when only this section changes, only this module runs again.
	hosts, err := etchosts.Entry(env.Root, env.Seed)
	if err != nil {
		return nil, err
	}
	if hosts != nil {
		p.hosts = files.Plan{*hosts}
	}
	return p, nil
}

func names(bs []seed.Bridge) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.Name)
	}
	return strings.Join(s, " ")
}

// withBridges is content with Phoenix's earlier layout undone (the
// drop-in's source block removed, the stanzas it had disabled restored) and
// the stanzas merged in.
func withBridges(content string, sts []stanza) ([]byte, error) {
	stripped, err := host.SetBlock([]byte(content), sourceBlock, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Interfaces, err)
	}
	return []byte(mergeInterfaces(undo(string(stripped)), sts)), nil
}

func r(root host.Root, p string) (string, error) {
	b, err := root.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return string(b), nil
}

// undo reverts Phoenix's earlier edits of /etc/network/interfaces: lines
// it disabled are enabled again, and the remainder it wrote after a split
// "auto a b" line is dropped. withBridges then applies the current seed to
// the admin's original, so reruns are stable and an interface dropped from
// the seed gets its old stanza back.
func undo(content string) string {
	lines := strings.SplitAfter(content, "\n")
	var out []string
	for i, l := range lines {
		if i > 0 && strings.HasPrefix(lines[i-1], disabledPrefix) {
			prev := strings.Fields(strings.TrimPrefix(lines[i-1], disabledPrefix))
			cur := strings.Fields(l)
			if len(prev) > 1 && len(cur) > 1 && prev[0] == cur[0] && (cur[0] == "auto" || strings.HasPrefix(cur[0], "allow-")) && subset(cur[1:], prev[1:]) {
				continue
			}
		}
		out = append(out, strings.TrimPrefix(l, disabledPrefix))
	}
	return strings.Join(out, "")
}

func subset(a, b []string) bool {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	for _, x := range a {
		if !in[x] {
			return false
		}
	}
	return true
}

// planDNS decides where DNS goes. A plain /etc/resolv.conf is Phoenix's to
// write whole (as Proxmox's own DNS editor does). A symlink into
// systemd-resolved's run directory means resolved owns the file: the
// servers go into a resolved.conf.d drop-in. Any other symlink (resolvconf)
// is left alone with a note: writing through it would be overwritten.
func (m *Module) planDNS(root host.Root, n *seed.Network, p *plan) error {
	for _, s := range n.DNS {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("dns %q is not an IP address", s)
		}
	}
	for _, s := range n.Search {
		if s == "" || strings.ContainsAny(s, " \t\n#") {
			return fmt.Errorf("search domain %q is not a domain", s)
		}
	}
	if len(n.DNS) > 3 {
		p.notes = append(p.notes, fmt.Sprintf("%d DNS servers: the resolver uses only the first 3", len(n.DNS)))
	}
	fi, err := root.Lstat(ResolvConf)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := root.Readlink(ResolvConf)
		if !strings.Contains(target, "systemd/resolve") {
			p.notes = append(p.notes, "/etc/resolv.conf links to "+target+" (resolvconf?): DNS left to it")
			return nil
		}
		var b strings.Builder
		b.WriteString("# Managed by phoenix (seed network.dns); edits are overwritten.\n[Resolve]\n")
		if len(n.DNS) > 0 {
			b.WriteString("DNS=" + strings.Join(n.DNS, " ") + "\n")
		}
		if len(n.Search) > 0 {
			b.WriteString("Domains=" + strings.Join(n.Search, " ") + "\n")
		}
		p.dns = files.Plan{{Path: Resolved, Data: []byte(b.String()), Mode: 0o644, Why: "DNS " + strings.Join(n.DNS, " ") + " (systemd-resolved)"}}
		p.resolved = true
		return nil
	}
	var b strings.Builder
	b.WriteString("# Managed by phoenix (seed network.dns); edits are overwritten.\n")
	if len(n.Search) > 0 {
		b.WriteString("search " + strings.Join(n.Search, " ") + "\n")
	}
	for _, s := range n.DNS {
		b.WriteString("nameserver " + s + "\n")
	}
	p.dns = files.Plan{{Path: ResolvConf, Data: []byte(b.String()), Mode: 0o644, Why: "DNS " + strings.Join(n.DNS, " ")}}
	return nil
}

// Converge implements modules.Module. DNS goes first: it needs no reload
// and no confirmation. The bridges are written with a snapshot of the old
// files kept in the Store, reloaded, and confirmed by a ping of the
// gateway, else rolled back. /etc/hosts follows only once the address it
// names is the confirmed one, and the bridges go into a pending GUI change
// only once they are confirmed to work.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	p, err := m.plan(env)
	if err != nil {
		return err
	}
	s.Notes = append(s.Notes, p.notes...)

	changed, err := p.dns.Converge(s)
	if err != nil {
		return err
	}
	if len(changed) > 0 && p.resolved && !s.Dry {
		if _, err := env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"try-reload-or-restart", "systemd-resolved.service"}}); err != nil {
			return err
		}
	}

	var snap files.Snapshot
	found, err := env.Store.Get(pendingKey, &snap)
	if err != nil {
		return err
	}
	pending, err := p.ifaces.Pending(env.Root)
	if err != nil {
		return err
	}
	after := slices.Concat(p.staged, p.hosts)
	if len(pending) == 0 && !found {
		_, err := after.Converge(s)
		return err
	}
	if !found && !s.Dry {
		// Keep the current files before touching them: the rollback must
		// survive a crash between the write and the confirmation.
		paths := []string{DropIn, Interfaces}
		for _, f := range p.ifaces {
			if !slices.Contains(paths, f.Path) {
				paths = append(paths, f.Path)
			}
		}
		if snap, err = files.Save(env.Root, paths...); err != nil {
			return fmt.Errorf("save previous files: %w", err)
		}
		if err := env.Store.Put(pendingKey, snap); err != nil {
			return err
		}
	}
	s.Say("network: writing bridges")
	if _, err := p.ifaces.Converge(s); err != nil {
		if s.Dry {
			return err
		}
		return m.rollback(ctx, env, snap, err)
	}
	if found {
		_ = s.DoQuiet("unconfirmed change from an interrupted run: reload and confirm the gateway answers", nil)
	}
	if !s.Dry {
		s.Say("network: ifreload -a")
		if _, err := env.Runner.Run(ctx, host.Cmd{Name: "ifreload", Args: []string{"-a"}, Timeout: 2 * time.Minute}); err != nil {
			return m.rollback(ctx, env, snap, err)
		}
		if p.gateway.IsValid() {
			s.Say("network: waiting for gateway " + p.gateway.String())
			if err := m.confirm(ctx, env, p.gateway); err != nil {
				return m.rollback(ctx, env, snap, err)
			}
		} else {
			s.Note("no management gateway: change not confirmed by ping")
		}
		if err := env.Store.Delete(pendingKey); err != nil {
			return err
		}
	}
	_, err = after.Converge(s)
	return err
}

// confirm pings the gateway until it answers, a bounded number of times.
func (m *Module) confirm(ctx context.Context, env *modules.Env, gw netip.Addr) error {
	attempts := m.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	interval := m.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	sleep := m.Sleep
	if sleep == nil {
		sleep = host.Sleep
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if serr := sleep(ctx, interval); serr != nil {
				return serr
			}
		}
		_, err = env.Runner.Run(ctx, host.Cmd{Name: "ping", Args: []string{"-c", "1", "-W", "2", gw.String()}, Timeout: 10 * time.Second})
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("gateway %s did not answer %d pings after ifreload: %w", gw, attempts, err)
}

// rollback restores the files from before the change (unless the seed
// says rollback: false), reloads, and returns cause with what it did.
func (m *Module) rollback(ctx context.Context, env *modules.Env, snap files.Snapshot, cause error) error {
	if r := env.Seed.Network.Rollback; r != nil && !*r {
		_ = env.Store.Delete(pendingKey)
		return fmt.Errorf("%w (rollback disabled by network.rollback: false; new configuration left in place)", cause)
	}
	env.Say("network: rolling back")
	if _, err := snap.Plan().Apply(env.Root); err != nil {
		return fmt.Errorf("%w; rollback failed: %w", cause, err)
	}
	if _, err := env.Runner.Run(ctx, host.Cmd{Name: "ifreload", Args: []string{"-a"}, Timeout: 2 * time.Minute}); err != nil {
		return fmt.Errorf("%w; files rolled back but ifreload failed: %w", cause, err)
	}
	if err := env.Store.Delete(pendingKey); err != nil {
		return fmt.Errorf("%w; rolled back: %w", cause, err)
	}
	return fmt.Errorf("%w; rolled back to the previous network configuration", cause)
}
