package node

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"

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
)

// Module is the host module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the host module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "host" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Host != nil }

var (
	tzRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`) })
)

// plan is what the seed wants, computed from the seed and the root.
type plan struct {
	files    files.Plan
	hostname string
	notes    []string
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

	if tz := h.Timezone; tz != "" {
		if !tzRE().MatchString(tz) || strings.Contains(tz, "..") {
			return nil, fmt.Errorf("host: timezone %q is not a zone name like Europe/Berlin", tz)
		}
		zone := path.Join(ZoneinfoDir, tz)
		if fi, err := env.Root.Stat(zone); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("host: timezone %q: no zone file %s (is tzdata installed?)", tz, zone)
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
				return nil, fmt.Errorf("host: ntp server %q is not a host name or address", s)
			}
			b.WriteString("server " + s + " iburst\n")
		}
		p.files = append(p.files, files.File{Path: ChronySources, Data: []byte(b.String()), Mode: 0o644, Why: "NTP servers " + strings.Join(h.NTP, " ")})
	} else {
		p.files = append(p.files, files.File{Path: ChronySources, Absent: true, Why: "no NTP servers in the seed"})
	}
	return p, nil
}

// Check implements modules.Module.
func (m *Module) Check(ctx context.Context, env *modules.Env) ([]string, error) {
	p, err := m.plan(env)
	if err != nil {
		return nil, err
	}
	out, err := p.files.Pending(env.Root)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	if liveRename(env.Root, p.hostname) {
		out = append(out, "running host name: hostnamectl set-hostname "+p.hostname)
	}
	return out, nil
}

// Apply implements modules.Module.
func (m *Module) Apply(ctx context.Context, env *modules.Env) (modules.Result, error) {
	var res modules.Result
	p, err := m.plan(env)
	if err != nil {
		return res, err
	}
	res.Notes = p.notes
	oldName := strings.TrimSpace(readString(env.Root, HostnameFile))
	if oldName != "" && oldName != p.hostname {
		if err := refuseRename(env.Root, oldName); err != nil {
			return res, err
		}
	}
	env.Say("host: " + p.hostname)
	changed, err := p.files.Apply(env.Root)
	res.Changed = changed
	if err != nil {
		return res, fmt.Errorf("host: %w", err)
	}
	if liveRename(env.Root, p.hostname) {
		// Renames the running system (kernel hostname) too; the file
		// alone takes effect at the next boot. Decided from the running
		// name, so a crash after the file write still renames.
		if _, err := env.Run.Run(ctx, bhost.Cmd{Name: "hostnamectl", Args: []string{"set-hostname", p.hostname}}); err != nil {
			return res, fmt.Errorf("host: %w", err)
		}
	}
	if contains(changed, ChronySources) && bhost.Exists(env.Root, ChronycBin) {
		if _, err := env.Run.Run(ctx, bhost.Cmd{Name: "chronyc", Args: []string{"reload", "sources"}}); err != nil {
			// chronyd not running yet: it reads the drop-in when it starts.
			res.Notes = append(res.Notes, "chrony not running: NTP sources apply when it starts")
		}
	} else if len(env.Seed.Host.NTP) > 0 && !bhost.Exists(env.Root, ChronycBin) {
		res.Notes = append(res.Notes, "chrony is not installed: add it to repos.packages; its sources are ready in "+ChronySources)
	}
	return res, nil
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

// refuseRename stops a rename of a Proxmox node that already has guests:
// their configuration lives under /etc/pve/nodes/<old name> and would be
// orphaned. Renaming a fresh node is fine.
func refuseRename(r bhost.Root, old string) error {
	for _, d := range []string{"qemu-server", "lxc"} {
		dir := path.Join("/etc/pve/nodes", old, d)
		ents, err := r.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				return fmt.Errorf("host: refusing to rename node %q: it has guests (%s); rename it by hand following the Proxmox docs", old, path.Join(dir, e.Name()))
			}
		}
	}
	return nil
}

// KernelHostname is the running system's host name.
const KernelHostname = "/proc/sys/kernel/hostname"

// liveRename reports whether hostnamectl should rename the running system:
// it can work, and the running name differs.
func liveRename(r bhost.Root, name string) bool {
	live, err := r.ReadFile(KernelHostname)
	return err == nil && strings.TrimSpace(string(live)) != name && systemdUsable(r)
}

// systemdUsable reports whether hostnamectl can work: systemd is PID 1
// (/run/systemd/system exists, as sd_booted checks) and the system bus
// socket is there. A Debian minbase image has no dbus-daemon.
func systemdUsable(r bhost.Root) bool {
	return bhost.Exists(r, "/run/systemd/system") && bhost.Exists(r, "/run/dbus/system_bus_socket")
}
