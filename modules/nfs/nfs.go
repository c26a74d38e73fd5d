package nfs

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths, commands and names, in one place.
const (
	ExportsFile  = "/etc/exports.d/phoenix.exports"
	Package      = "nfs-kernel-server"
	Service      = "nfs-server.service"
	ExportfsCmd  = "exportfs"
	SystemctlCmd = "systemctl"
)

const header = "# Managed by phoenix from the seed's nfs section; edits here are overwritten.\n# Put your own exports in /etc/exports or another file in /etc/exports.d.\n"

// Module is the nfs module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the nfs module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "nfs" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.NFS != nil }

// Check implements modules.Module.
func (m *Module) Check(ctx context.Context, env *modules.Env) ([]string, error) {
	var changes []string
	want, err := Build(env.Seed.NFS)
	if err != nil {
		return nil, err
	}
	missing, err := apt.New(env.Runner).Missing(ctx, Package)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		// Nothing else can be read before the server is installed.
		return []string{"install " + Package, "write " + ExportsFile, "exportfs -ra", "enable and start " + Service}, nil
	}
	if err := checkPaths(env.Root, want); err != nil {
		return nil, err
	}
	if old, err := env.Root.ReadFile(ExportsFile); err != nil || string(old) != header+Render(want) {
		changes = append(changes, "write "+ExportsFile)
	}
	live, err := liveExports(ctx, env.Runner)
	if err != nil {
		return nil, err
	}
	if d := missingExports(want, live); len(d) > 0 {
		changes = append(changes, "exportfs -ra (not live: "+strings.Join(d, "; ")+")")
	}
	if !serviceUp(ctx, env.Runner) {
		changes = append(changes, "enable and start "+Service)
	}
	return changes, nil
}

// Apply implements modules.Module.
func (m *Module) Apply(ctx context.Context, env *modules.Env) (modules.Result, error) {
	var res modules.Result
	want, err := Build(env.Seed.NFS)
	if err != nil {
		return res, err
	}
	installed, err := apt.New(env.Runner).Install(ctx, Package)
	if err != nil {
		return res, err
	}
	if len(installed) > 0 {
		res.Changed = append(res.Changed, "installed "+Package)
	}
	if err := checkPaths(env.Root, want); err != nil {
		return res, err
	}
	res.Notes = offDataset(env.Seed)
	env.Say("writing " + ExportsFile)
	changed, err := host.WriteIfChanged(env.Root, ExportsFile, []byte(header+Render(want)), 0o644, host.Owner{})
	if err != nil {
		return res, fmt.Errorf("write %s: %w", ExportsFile, err)
	}
	if changed {
		res.Changed = append(res.Changed, "wrote "+ExportsFile)
	}
	if !serviceUp(ctx, env.Runner) {
		if _, err := env.Runner.Run(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"enable", "--now", Service}}); err != nil {
			return res, fmt.Errorf("enable %s: %w", Service, err)
		}
		res.Changed = append(res.Changed, "enabled and started "+Service)
	}
	live, err := liveExports(ctx, env.Runner)
	if err != nil {
		return res, err
	}
	if changed || len(missingExports(want, live)) > 0 {
		if _, err := env.Runner.Run(ctx, host.Cmd{Name: ExportfsCmd, Args: []string{"-ra"}}); err != nil {
			return res, fmt.Errorf("exportfs -ra: %w", err)
		}
		res.Changed = append(res.Changed, "reloaded exports")
		if live, err = liveExports(ctx, env.Runner); err != nil {
			return res, err
		}
		if d := missingExports(want, live); len(d) > 0 {
			return res, fmt.Errorf("after exportfs -ra, not exported: %s", strings.Join(d, "; "))
		}
	}
	return res, nil
}

// Build turns the seed's exports into validated entries (with sync and
// no_subtree_check added unless chosen).
func Build(n *seed.NFS) ([]Entry, error) {
	var out []Entry
	seen := map[string]bool{}
	for i, e := range n.Exports {
		p := fmt.Sprintf("nfs.exports[%d]", i)
		if !strings.HasPrefix(e.Path, "/") || strings.ContainsRune(e.Path, 0) || strings.Contains(e.Path, "\n") {
			return nil, fmt.Errorf("%s.path: %q is not an absolute path", p, e.Path)
		}
		if seen[e.Path] {
			return nil, fmt.Errorf("%s.path: %s is exported twice", p, e.Path)
		}
		seen[e.Path] = true
		if len(e.Clients) == 0 {
			return nil, fmt.Errorf("%s.clients: at least one client is required", p)
		}
		entry := Entry{Path: e.Path}
		hosts := map[string]bool{}
		for j, c := range e.Clients {
			cp := fmt.Sprintf("%s.clients[%d]", p, j)
			if err := ValidateClient(c.Host); err != nil {
				return nil, fmt.Errorf("%s.host: %w", cp, err)
			}
			if hosts[c.Host] {
				return nil, fmt.Errorf("%s.host: client %q listed twice", cp, c.Host)
			}
			hosts[c.Host] = true
			if err := ValidateOptions(c.Options); err != nil {
				return nil, fmt.Errorf("%s.options: %w", cp, err)
			}
			entry.Clients = append(entry.Clients, Client{Host: c.Host, Options: withDefaults(c.Options)})
		}
		out = append(out, entry)
	}
	return out, nil
}

// offDataset notes exports that are on no seed dataset: with a zfs
// section, shares are meant to live on its datasets, at seed.Mountpoint.
func offDataset(s *seed.Seed) []string {
	if s.ZFS == nil {
		return nil
	}
	var notes []string
	for _, e := range s.NFS.Exports {
		if s.DatasetAt(e.Path) == "" {
			notes = append(notes, fmt.Sprintf("export %s is on no seed dataset (dataset paths come from their mountpoints)", e.Path))
		}
	}
	return notes
}

// checkPaths refuses to export a directory that does not exist: exportfs
// would fail, and an unmounted dataset's empty directory on the root
// filesystem is never what was meant.
func checkPaths(root host.Root, want []Entry) error {
	for _, e := range want {
		fi, err := root.Stat(e.Path)
		if err != nil {
			return fmt.Errorf("export %s: %w (create the dataset or directory first)", e.Path, unwrapPath(err))
		}
		if !fi.IsDir() {
			return fmt.Errorf("export %s: not a directory", e.Path)
		}
	}
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

func liveExports(ctx context.Context, r host.Runner) ([]Entry, error) {
	out, err := r.Run(ctx, host.Cmd{Name: ExportfsCmd, Args: []string{"-v"}})
	if err != nil {
		return nil, fmt.Errorf("exportfs -v: %w", err)
	}
	live, err := ParseExports(string(out.Stdout))
	if err != nil {
		return nil, fmt.Errorf("parse exportfs -v: %w", err)
	}
	return live, nil
}

// missingExports lists the path/client pairs of want that are not live.
// Options are not compared: exportfs -v prints them expanded and
// normalized, so only presence is a reliable check.
func missingExports(want, live []Entry) []string {
	have := map[string]bool{}
	for _, e := range live {
		for _, c := range e.Clients {
			have[e.Path+" "+c.Host] = true
		}
	}
	var out []string
	for _, e := range want {
		for _, c := range e.Clients {
			if !have[e.Path+" "+c.Host] {
				out = append(out, e.Path+" "+c.Host)
			}
		}
	}
	return out
}

// serviceUp reports whether the server is enabled and running.
func serviceUp(ctx context.Context, r host.Runner) bool {
	for _, verb := range []string{"is-enabled", "is-active"} {
		if _, err := r.Run(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{verb, "--quiet", Service}}); err != nil {
			return false
		}
	}
	return true
}
