package node

import (
	"context"
	"fmt"
	"path"
	"strings"

	bhost "github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/etchosts"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	HostnameFile  = "/etc/hostname"
	HostsFile     = etchosts.File
	LocaltimeFile = "/etc/localtime"
	TimezoneFile  = "/etc/timezone"
	ZoneinfoDir   = "/usr/share/zoneinfo"
	ChronySources = "/etc/chrony/sources.d/phoenix.sources"
	ChronycBin    = "/usr/bin/chronyc"

	// PmxcfsBin marks a Proxmox VE host: pve-cluster.service runs it
	// (ConditionFileIsExecutable=/usr/bin/pmxcfs, pve-cluster
	// debian/pve-cluster.service:4).
	PmxcfsBin = "/usr/bin/pmxcfs"
	// ClusterConf exists in /etc/pve once the node is in a cluster: pmxcfs
	// runs in local mode only without it (pve-cluster pmxcfs.c:897-914).
	ClusterConf = "/etc/pve/corosync.conf"
	// CorosyncConf is corosync's own copy on a cluster member.
	CorosyncConf = "/etc/corosync/corosync.conf"
	// RenameDocs is Proxmox's procedure for renaming a node.
	RenameDocs = "https://pve.proxmox.com/wiki/Renaming_a_PVE_node"

	renamedKey = "host/renamed" // the rename Phoenix rebooted for
)

// Module is the host module.
type Module struct{}

// Early implements modules.Early: off Proxmox VE the module writes files
// (the running name among them) and runs chronyc. On
// a PVE host a rename involves pmxcfs: that waits for phoenix.service.
func (*Module) Early(_ context.Context, env *modules.Env) (bool, string) {
	if bhost.Exists(env.Root, PmxcfsBin) {
		return false, "a Proxmox VE host (a rename involves pmxcfs)"
	}
	return true, ""
}

// Alongside implements modules.Concurrent. The host module comes first
// in the seed's order; it names no module, so it never waits for one.
func (*Module) Alongside(context.Context, *modules.Env) []string { return nil }

var _ modules.Module = (*Module)(nil)

// New returns the host module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "host" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Host != nil }

// plan is what the seed wants, computed from the seed and the root.
type plan struct {
	files    files.Plan
	hostname string
	notes    []string
	// pveRename: the running node is to get a new name on a Proxmox VE
	// host, which takes a reboot (see Apply).
	pveRename bool
	running   string // the running host name ("" offline)
}

// renamed records the rename Phoenix asked a reboot for.
type renamed struct {
	Name   string `json:"name"`
	From   string `json:"from"`
	BootID string `json:"boot_id"`
}

func (m *Module) plan(env *modules.Env) (*plan, error) {
	h := env.Seed.Host
	p := &plan{hostname: h.Hostname}
	if _, err := etchosts.FQDN(h); err != nil {
		return nil, err
	}
	p.files = append(p.files, files.File{Path: HostnameFile, Data: []byte(h.Hostname + "\n"), Mode: 0o644, Why: "set host name " + h.Hostname})

	hosts, err := etchosts.Entry(env.Root, env.Seed)
	if err != nil {
		return nil, err
	}
	if hosts != nil {
		p.files = append(p.files, *hosts)
	} else {
		p.notes = append(p.notes, "no network.management.address: /etc/hosts left alone")
	}

	old := strings.TrimSpace(readString(env.Root, HostnameFile))
	p.running = strings.TrimSpace(readString(env.Root, KernelHostname))
	if old != "" && old != h.Hostname {
		if err := refuseRename(env.Root, old); err != nil {
			return nil, err
		}
	}
	if bhost.Exists(env.Root, PmxcfsBin) {
		if (old != "" && old != h.Hostname) || (p.running != "" && p.running != h.Hostname) {
			if err := pmxcfsResolves(env.Root, hosts, h.Hostname, &p.notes); err != nil {
				return nil, err
			}
		}
		p.pveRename = p.running != "" && p.running != h.Hostname
	}

	if tz := h.Timezone; tz != "" {
		if !seed.IsTimezone(tz) {
			return nil, fmt.Errorf("timezone %q is not a zone name like Europe/Berlin", tz)
		}
		zone := path.Join(ZoneinfoDir, tz)
		if fi, err := env.Root.Stat(zone); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("timezone %q: no zone file %s (is tzdata installed?)", tz, zone)
		}
		p.files = append(p.files,
			files.File{Path: LocaltimeFile, Link: zone, Why: "timezone " + tz},
			files.File{Path: TimezoneFile, Data: []byte(tz + "\n"), Mode: 0o644, Why: "timezone " + tz})
	}

	if len(h.NTP) > 0 {
		var b strings.Builder
		b.WriteString("# Managed by phoenix (seed host.ntp); edits are overwritten.\n")
		for _, s := range h.NTP {
			if s == "" || strings.ContainsAny(s, " \t\n#") {
				return nil, fmt.Errorf("ntp server %q is not a host name or address", s)
			}
			b.WriteString("server " + s + " iburst\n")
		}
		p.files = append(p.files, files.File{Path: ChronySources, Data: []byte(b.String()), Mode: 0o644, Why: "NTP servers " + strings.Join(h.NTP, " ")})
	} else {
		p.files = append(p.files, files.File{Path: ChronySources, Absent: true, Why: "no NTP servers in the seed"})
	}
	return p, nil
}

// Converge implements modules.Module.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	p, err := m.plan(env)
	if err != nil {
		return err
	}
	s.Notes = append(s.Notes, p.notes...)
	s.Say("host: " + p.hostname)
	changed, err := p.files.Converge(s)
	if err != nil {
		return err
	}
	var rn renamed
	if _, err := env.Store.Get(renamedKey, &rn); err != nil {
		return err
	}
	rename := "reboot to rename the running node " + p.running + " to " + p.hostname + " (pmxcfs takes the node name when it starts)"
	switch {
	case p.pveRename && rn.Name == p.hostname && rn.BootID != env.BootID:
		if s.Dry {
			return s.DoQuiet(rename, nil)
		}
		return fmt.Errorf("rebooted (boot %s) to rename the node to %s, but the running host name is still %s: something else sets it (DHCP, cloud-init?); not rebooting again", rn.BootID, p.hostname, p.running)
	case p.pveRename:
		// pmxcfs takes the node name from uname when it starts and links
		// /etc/pve/local (and qemu-server, lxc) to nodes/<name> then
		// (pve-cluster src/pmxcfs/pmxcfs.c:814-826,663-686,924), and every
		// PVE tool and daemon caches the name for its lifetime (pve-common
		// src/PVE/INotify.pm:521-533). A live rename would leave /etc/pve
		// pointing at the old node until pve-cluster and every PVE daemon
		// restarted; the storages, ACLs, firewall and containers that later
		// modules write would land under the wrong node. A reboot is the
		// one restart that covers them all (pveproxy's ExecStartPre
		// `pvecm updatecerts` creates nodes/<new> then, pve-cluster
		// src/PVE/Cluster/Setup.pm:359-378,572-588), and the engine stops
		// the run here, so nothing after this module runs before it.
		err := s.DoQuiet(rename, func() error {
			if rn.Name != p.hostname || rn.BootID != env.BootID {
				return env.Store.Put(renamedKey, renamed{Name: p.hostname, From: p.running, BootID: env.BootID})
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.RebootFor("host: node renamed " + p.running + " -> " + p.hostname + ": pmxcfs and the PVE tools take the node name when they start; rebooting before anything uses /etc/pve")
		return nil
	case rn.Name != "" && !s.Dry:
		s.Note("node renamed %s -> %s; rebooted so that pmxcfs (/etc/pve/local) and the PVE daemons use the new name", rn.From, rn.Name)
		if err := env.Store.Delete(renamedKey); err != nil {
			return err
		}
	}
	if !bhost.Exists(env.Root, PmxcfsBin) && liveRename(env.Root, p.hostname) {
		// Renames the running system (kernel hostname) too; the file
		// alone takes effect at the next boot. Decided from the running
		// name, so a crash after the file write still renames.
		err := s.DoQuiet("running host name: "+p.hostname, func() error {
			return setKernelHostname(env.Root, p.hostname)
		})
		if err != nil {
			return err
		}
	}
	if s.Dry {
		return nil
	}
	if contains(changed, ChronySources) && bhost.Exists(env.Root, ChronycBin) {
		if _, err := env.Runner.Run(ctx, bhost.Cmd{Name: "chronyc", Args: []string{"reload", "sources"}}); err != nil {
			// chronyd not running yet: it reads the drop-in when it starts.
			s.Note("chrony not running: NTP sources apply when it starts")
		}
	} else if len(env.Seed.Host.NTP) > 0 && !bhost.Exists(env.Root, ChronycBin) {
		s.Note("chrony is not installed: add it to repos.packages; its sources are ready in %s", ChronySources)
	}
	return nil
}

func contains(changed []string, p string) bool {
	for _, c := range changed {
		if strings.HasPrefix(c, p+":") {
			return true
		}
	}
	return false
}

func readString(r bhost.Root, p string) string {
	b, _ := r.ReadFile(p)
	return string(b)
}

// refuseRename stops a rename of a Proxmox node that already has guests
// (their configuration lives under /etc/pve/nodes/<old name> and would be
// orphaned) or is in a cluster (pve-docs pvecm.adoc:104-106: "Changing the
// hostname and IP is not possible after cluster creation"). Renaming a
// fresh, standalone node is fine.
func refuseRename(r bhost.Root, old string) error {
	for _, c := range []string{ClusterConf, CorosyncConf} {
		if bhost.Exists(r, c) {
			return fmt.Errorf("refusing to rename node %q: it is in a cluster (%s exists), whose members know it by that name; see %s", old, c, RenameDocs)
		}
	}
	for _, d := range []string{"qemu-server", "lxc"} {
		dir := path.Join("/etc/pve/nodes", old, d)
		ents, err := r.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				return fmt.Errorf("refusing to rename node %q: it has guests (%s), whose configuration would stay under the old name; rename it by hand following %s", old, path.Join(dir, e.Name()), RenameDocs)
			}
		}
	}
	return nil
}

// pmxcfsResolves checks that the new node name will resolve to an address
// pmxcfs accepts: it resolves its node name with getaddrinfo and refuses to
// start when it gets only 127.x or ::1 (pve-cluster src/pmxcfs/pmxcfs.c:
// 707-741,828-836), which would leave /etc/pve unmounted. /etc/hosts (as
// the plan writes it, else as it is) mapping the name only to loopback is
// an error; no entry at all is a note, since DNS may resolve it.
func pmxcfsResolves(r bhost.Root, planned *files.File, name string, notes *[]string) error {
	var data []byte
	if planned != nil && !planned.Absent {
		data = planned.Data
	} else {
		data, _ = r.ReadFile(HostsFile)
	}
	var addrs []string
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		for _, n := range f[min(1, len(f)):] {
			if n == name || strings.HasPrefix(n, name+".") {
				addrs = append(addrs, f[0])
				break
			}
		}
	}
	if len(addrs) == 0 {
		*notes = append(*notes, fmt.Sprintf("%s does not name %s: pmxcfs must resolve it (DNS) to a non-loopback address, or it will not start; set network.management.address to have Phoenix write it", HostsFile, name))
		return nil
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.") && a != "::1" {
			return nil
		}
	}
	return fmt.Errorf("%s maps %s only to %s: pmxcfs would refuse to start (it needs a non-loopback address for the node name), leaving /etc/pve unmounted; set network.management.address", HostsFile, name, strings.Join(addrs, ", "))
}

// KernelHostname is the running system's host name.
const KernelHostname = "/proc/sys/kernel/hostname"

// liveRename reports whether the running system should be renamed: it is
// a running system, and the running name differs. A running system is
// one booted with systemd (bhost.SystemdBootedIn); an image being built
// has no /run/systemd/system. Not the system bus: the running name is
// written to KernelHostname, with no hostnamectl to talk to, and in the
// early stage the module can run before dbus.socket listens (a bookworm
// boot of make e2e on 2026-12-03: the host module at 19.6 s, dbus.socket
// at 20.1 s; the running name was left unchanged). Nor in a chroot, or a
// root given with --root, whose /proc is the running kernel's and whose
// /run is the host's, bind-mounted: there the kernel's host name is the
// build machine's.
func liveRename(r bhost.Root, name string) bool {
	live, err := r.ReadFile(KernelHostname)
	return err == nil && strings.TrimSpace(string(live)) != name && bhost.SystemdBootedIn(r)
}

// setKernelHostname sets the running system's host name by writing it to
// KernelHostname, which the kernel documents as setting the host name
// "in exactly the same way as" hostname(1) (Documentation/admin-guide/
// sysctl/kernel.rst, "hostname & domainname"): sethostname(2) for the
// writer's UTS namespace, as systemd-hostnamed does for hostnamectl
// set-hostname. The static name is the file the module wrote. No command:
// in the early stage an exec costs 0.3 s of the emulated CPUs that the
// boot's services share (status.json of the comparison VM,
// docs/perf/e2e.md), and hostnamed, D-Bus activated, costs seconds to
// start mid-boot. Written in place (host.WriteKernelFile): procfs allows
// no temp file and rename.
func setKernelHostname(r bhost.Root, name string) error {
	if err := bhost.WriteKernelFile(r, KernelHostname, []byte(name)); err != nil {
		return fmt.Errorf("set the running host name %s: %w", name, err)
	}
	return nil
}
