package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"sync"

	bhost "github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	HostnameFile  = "/etc/hostname"
	HostsFile     = "/etc/hosts"
	LocaltimeFile = "/etc/localtime"
	TimezoneFile  = "/etc/timezone"
	ZoneinfoDir   = "/usr/share/zoneinfo"
	ChronySources = "/etc/chrony/sources.d/phoenix.sources"
	ChronycBin    = "/usr/bin/chronyc"
	// hostsBlock is the managed block id in /etc/hosts.
	hostsBlock = "host"
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
	labelRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`) })
	tzRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`) })
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
	if _, err := fqdn(h); err != nil {
		return nil, err
	}
	p.files = append(p.files, files.File{Path: HostnameFile, Data: []byte(h.Hostname + "\n"), Mode: 0o644, Why: "set host name " + h.Hostname})

	hosts, err := HostsEntry(env.Root, env.Seed)
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

// HostsEntry is /etc/hosts as the seed wants it: the FQDN and host name
// mapped to the management address. It is nil when the seed has no host
// name or no management address. The network module uses it too: the
// engine reruns a module only when its own section changes, so a new
// management address reaches /etc/hosts through the network module.
func HostsEntry(r bhost.Root, s *seed.Seed) (*files.File, error) {
	if s.Host == nil || s.Host.Hostname == "" {
		return nil, nil
	}
	h := s.Host
	full, err := fqdn(h)
	if err != nil {
		return nil, err
	}
	ip, err := managementIP(s)
	if err != nil || !ip.IsValid() {
		return nil, err
	}
	data, err := hostsContent(r, ip, full, h.Hostname)
	if err != nil {
		return nil, err
	}
	mode := fs.FileMode(0o644)
	if fi, err := r.Stat(HostsFile); err == nil {
		mode = fi.Mode().Perm()
	}
	return &files.File{Path: HostsFile, Data: data, Mode: mode, Why: "map " + full + " to " + ip.String()}, nil
}

// fqdn validates the host name and domain and returns the FQDN (the host
// name alone without a domain).
func fqdn(h *seed.Host) (string, error) {
	if !labelRE().MatchString(h.Hostname) {
		return "", fmt.Errorf("host: hostname %q is not a valid host name (letters, digits, '-', at most 63)", h.Hostname)
	}
	if h.Domain == "" {
		return h.Hostname, nil
	}
	for _, l := range strings.Split(h.Domain, ".") {
		if !labelRE().MatchString(l) {
			return "", fmt.Errorf("host: domain %q is not a valid domain name", h.Domain)
		}
	}
	return h.Hostname + "." + h.Domain, nil
}

// managementIP is the address of seed network.management.address, or the
// zero Addr when the seed has none (DHCP, or no network section).
func managementIP(s *seed.Seed) (netip.Addr, error) {
	if s.Network == nil || s.Network.Management.Address == "" {
		return netip.Addr{}, nil
	}
	pfx, err := netip.ParsePrefix(s.Network.Management.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host: network.management.address: %w", err)
	}
	return pfx.Addr(), nil
}

// hostsContent is /etc/hosts with the managed block mapping the names to
// ip, and any other line that maps one of those names (an old address) or
// 127.0.1.1 (the Debian installer's) commented out: the resolver returns
// the first match, so a stale line would win over the block.
func hostsContent(r bhost.Root, ip netip.Addr, names ...string) ([]byte, error) {
	old, err := r.ReadFile(HostsFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("host: %w", err)
	}
	stripped, err := bhost.SetBlock(old, hostsBlock, nil)
	if err != nil {
		return nil, fmt.Errorf("host: %s: %w", HostsFile, err)
	}
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(stripped), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		// 127.0.1.1 is the Debian installer's stand-in for a host without
		// a static address; it has no other use, so it goes too.
		stale := len(f) >= 2 && f[0] != ip.String() && (f[0] == "127.0.1.1" || hasAny(f[1:], names))
		if stale && !isLocalhostLine(f) {
			line = "#phoenix# " + line
		}
		out.WriteString(line)
	}
	block := fmt.Sprintf("%s\t%s\n", ip, strings.Join(dedup(names), " "))
	res, err := bhost.SetBlock(out.Bytes(), hostsBlock, []byte(block))
	if err != nil {
		return nil, fmt.Errorf("host: %s: %w", HostsFile, err)
	}
	return res, nil
}

// isLocalhostLine keeps "127.0.0.1 localhost" and "::1 localhost ..." even
// if someone added the host name to them: commenting them out would lose
// localhost.
func isLocalhostLine(f []string) bool {
	for _, n := range f[1:] {
		if n == "localhost" || strings.HasPrefix(n, "ip6-") {
			return true
		}
	}
	return false
}

func hasAny(fields, names []string) bool {
	for _, f := range fields {
		for _, n := range names {
			if strings.EqualFold(f, n) {
				return true
			}
		}
	}
	return false
}

func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
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
