package firewall

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	NodesDir     = "/etc/pve/nodes"
	ClusterFW    = "/etc/pve/firewall/cluster.fw"
	HostnameFile = "/etc/hostname"
	GroupFile    = "/etc/group"
)

// Module is the firewall module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the firewall module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "firewall" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Firewall != nil }

// Node is the Proxmox node name: the seed's host name, else the root's
// /etc/hostname (its first label, as pmxcfs takes it).
func Node(s *seed.Seed, r host.Root) (string, error) {
	name := ""
	if s.Host != nil {
		name = s.Host.Hostname
	}
	if name == "" {
		b, err := r.ReadFile(HostnameFile)
		if err != nil {
			return "", fmt.Errorf("node name: %w", err)
		}
		name, _, _ = strings.Cut(strings.TrimSpace(string(b)), ".")
	}
	if !seed.IsHostname(name) {
		return "", fmt.Errorf("node name %q is not a host name", name)
	}
	return name, nil
}

// render is host.fw in the format pve-firewall reads.
func render(f *seed.Firewall) (string, error) {
	var b strings.Builder
	b.WriteString("# Managed by phoenix (seed firewall); edits are overwritten.\n[OPTIONS]\n\n")
	enable := f.Enable == nil || *f.Enable
	if enable {
		b.WriteString("enable: 1\n")
	} else {
		b.WriteString("enable: 0\n")
	}
	b.WriteString("\n[RULES]\n\n")
	for _, r := range f.Rules {
		line := "IN " + r.Action
		if r.Source != "" {
			line += " -source " + r.Source
		}
		if r.Proto != "" {
			line += " -p " + r.Proto
		}
		if r.Dport != "" {
			line += " -dport " + r.Dport
		}
		if c := strings.Join(strings.Fields(r.Comment), " "); c != "" {
			line += " # " + c
		}
		b.WriteString(line + "\n")
	}
	return b.String(), nil
}

// wwwData is the gid pmxcfs gives its files.
func wwwData(r host.Root) (int, error) {
	b, err := r.ReadFile(GroupFile)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 3 && f[0] == "www-data" {
			return strconv.Atoi(f[2])
		}
	}
	return 0, fmt.Errorf("no www-data group in %s: is this a Proxmox VE host?", GroupFile)
}

func (m *Module) plan(env *modules.Env) (files.File, error) {
	// The rules are the seed's: a seed built in Go is held to them here,
	// a loaded one passed them already.
	if err := env.Seed.SectionErr("firewall"); err != nil {
		return files.File{}, err
	}
	node, err := Node(env.Seed, env.Root)
	if err != nil {
		return files.File{}, err
	}
	dir := path.Join(NodesDir, node)
	if fi, err := env.Root.Stat(dir); err != nil || !fi.IsDir() {
		return files.File{}, fmt.Errorf("%s does not exist: is pve-cluster (pmxcfs) running? Not writing into an unmounted /etc/pve", dir)
	}
	gid, err := wwwData(env.Root)
	if err != nil {
		return files.File{}, err
	}
	data, err := render(env.Seed.Firewall)
	if err != nil {
		return files.File{}, err
	}
	return files.File{Path: path.Join(dir, "host.fw"), Data: []byte(data), Mode: 0o640, Owner: host.Owner{UID: 0, GID: gid},
		Why: fmt.Sprintf("%d host firewall rules", len(env.Seed.Firewall.Rules))}, nil
}

// Converge implements modules.Module.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	f, err := m.plan(s.Env)
	if err != nil {
		return err
	}
	if _, err := (files.Plan{f}).Converge(s); err != nil {
		return err
	}
	if !s.Dry && !clusterEnabled(s.Env.Root) {
		s.Note("the datacenter firewall is off (%s has no enable: 1): host rules apply once it is enabled; Phoenix does not enable it", ClusterFW)
	}
	return nil
}

// clusterEnabled reports whether cluster.fw enables the firewall: host
// rules take effect only then.
func clusterEnabled(r host.Root) bool {
	b, err := r.ReadFile(ClusterFW)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "enable" && strings.TrimSpace(v) == "1" {
			return true
		}
	}
	return false
}
