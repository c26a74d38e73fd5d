package nfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/modules/internal/svc"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths, commands and names, in one place.
const (
	ExportsFile = "/etc/exports.d/phoenix.exports"
	Package     = "nfs-kernel-server"
	Service     = "nfs-server.service"
	ExportfsCmd = "exportfs"
	// ExportfsBin is where nfs-kernel-server installs exportfs.
	ExportfsBin  = "/usr/sbin/exportfs"
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

// Early implements modules.Early: with the server installed, the module
// writes /etc/exports and queues nfs-server's start, whose ExecStartPre
// (`exportfs -r`) exports it.
//
// The package's exportfs stands for the package (a stat, not a dpkg-query:
// the early stage is on nfs-server's way to starting); Converge then reads
// dpkg's status file, and if the package is not installed after all it
// fails and the engine leaves the module to phoenix.service.
func (*Module) Early(_ context.Context, env *modules.Env) (bool, string) {
	if !host.Exists(env.Root, ExportfsBin) {
		return false, Package + " is not installed (it comes from the network)"
	}
	return true, ""
}

// Alongside implements modules.Concurrent: nfs writes /etc/exports and
// checks that each exported directory exists. It waits for users when an
// export lies below HomeBase, where useradd creates directories.
func (*Module) Alongside(_ context.Context, env *modules.Env) []string {
	for _, e := range env.Seed.NFS.Exports {
		if modules.Overlap(e.Path, modules.HomeBase) {
			return []string{"host"}
		}
	}
	return []string{"host", "users"}
}

// Converge implements modules.Module: the server package, /etc/exports,
// the service, and the live export table.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	want, err := Build(env.Seed.NFS)
	if err != nil {
		return err
	}
	client := apt.New(env.Runner)
	if s.Dry {
		missing, err := client.Missing(ctx, Package)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			// Nothing else can be read before the server is installed:
			// then no export is live.
			exportfs := "exportfs -ra"
			if d := missingExports(want, nil); len(d) > 0 {
				exportfs += " (not live: " + strings.Join(d, "; ") + ")"
			}
			for _, c := range []string{"install " + Package, "write " + ExportsFile, "enable and start " + Service, exportfs} {
				_ = s.DoQuiet(c, nil)
			}
			return nil
		}
	} else if env.EarlyStage {
		if err := apt.RequireInstalled(env.Root, Package); err != nil {
			return err
		}
	} else {
		installed, err := client.Install(ctx, Package)
		if err != nil {
			return err
		}
		if len(installed) > 0 {
			s.Changes = append(s.Changes, "install "+Package)
		}
	}
	if err := checkPaths(env.Root, env.Seed, want); err != nil {
		return err
	}
	if !s.Dry {
		s.Notes = append(s.Notes, offDataset(env.Seed)...)
	}
	data := []byte(header + Render(want))
	changed := false
	if old, err := env.Root.ReadFile(ExportsFile); err != nil || string(old) != string(data) {
		changed = true
		s.Say("writing " + ExportsFile)
		err := s.DoQuiet("write "+ExportsFile, func() error {
			if _, err := host.WriteIfChanged(env.Root, ExportsFile, data, 0o644, host.Owner{}); err != nil {
				return fmt.Errorf("write %s: %w", ExportsFile, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if env.EarlyStage {
		// phoenix-local.service is ordered before nfs-server, which has
		// not started yet: its start (the boot's job, or one queued here
		// with --no-block: waiting for it would never end) runs
		// ExecStartPre=-exportfs -r, which exports the file written above
		// (nfs-utils systemd/nfs-server.service). svc.Early reads the
		// state without a process and, at boot, without waiting for PID 1:
		// each is on nfs-server's way to starting.
		st, err := svc.Early(ctx, env.Root, env.Runner, Service, nfsdRunning)
		if err != nil {
			return err
		}
		if !st.Running() {
			if svc.StartQueued(st) {
				s.Say(Service + " starts after the early stage (" + svc.StartJob(st) + ") and exports " + ExportsFile)
				return nil
			}
			return s.DoQuiet("queue the start of "+Service+" (it exports "+ExportsFile+" when it starts, after the early stage)", func() error {
				return svc.QueueStart(ctx, env.Runner, Service, st)
			})
		}
	}
	enabled, active := serviceState(ctx, env.Runner)
	var live []Entry
	if !enabled || !active {
		err := s.DoQuiet("enable and start "+Service, func() error {
			if _, err := env.Runner.Run(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"enable", "--now", Service}}); err != nil {
				return fmt.Errorf("enable %s: %w", Service, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Nothing was live while it was stopped (its ExecStopPost is
		// `exportfs -au`, nfs-utils systemd/nfs-server.service), and the
		// start's `exportfs -r` is confirmed by the -ra and -v below.
	} else {
		var err error
		if live, err = liveExports(ctx, env.Runner); err != nil {
			return err
		}
	}
	d := missingExports(want, live)
	if !changed && len(d) == 0 {
		return nil
	}
	desc := "exportfs -ra"
	if len(d) > 0 {
		desc += " (not live: " + strings.Join(d, "; ") + ")"
	}
	return s.DoQuiet(desc, func() error {
		if _, err := env.Runner.Run(ctx, host.Cmd{Name: ExportfsCmd, Args: []string{"-ra"}}); err != nil {
			return fmt.Errorf("exportfs -ra: %w", err)
		}
		live, err := liveExports(ctx, env.Runner)
		if err != nil {
			return err
		}
		if d := missingExports(want, live); len(d) > 0 {
			return fmt.Errorf("after exportfs -ra, not exported: %s", strings.Join(d, "; "))
		}
		return nil
	})
}

// nfsdThreads is the kernel's count of running nfsd threads (nfsd(7));
// rpc.nfsd, nfs-server's ExecStart, sets it.
const nfsdThreads = "/proc/fs/nfsd/threads"

// nfsdRunning reports whether the kernel NFS server runs: nfs-server is a
// oneshot unit whose process exits once the threads are started, so its
// cgroup is empty while it is active (svc.Early). Without the nfsd
// filesystem mounted no server runs.
func nfsdRunning(root host.Root) (bool, error) {
	b, err := root.ReadFile(nfsdThreads)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n := strings.TrimSpace(string(b))
	return n != "" && n != "0", nil
}

// Build turns the seed's exports into validated entries (with sync and
// no_subtree_check added unless chosen).
func Build(n *seed.NFS) ([]Entry, error) {
	// The seed's own rules (one home: seed/nfs.go), for a seed built in Go
	// rather than loaded; `phoenix validate` reports the same first.
	if err := (&seed.Seed{NFS: n}).SectionErr("nfs"); err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range n.Exports {
		entry := Entry{Path: e.Path}
		for _, c := range e.Clients {
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
func checkPaths(root host.Root, s *seed.Seed, want []Entry) error {
	for _, e := range want {
		fi, err := root.Stat(e.Path)
		if err != nil {
			return fmt.Errorf("export %s: %w (create the dataset or directory first)", e.Path, unwrapPath(err))
		}
		if !fi.IsDir() {
			return fmt.Errorf("export %s: not a directory", e.Path)
		}
		// An export on a seed dataset needs that dataset mounted: its
		// mountpoint is otherwise a plain directory of the root
		// filesystem (security review M4b, docs/modules/nfs.md).
		if ds := s.DatasetAt(e.Path); ds != "" {
			mp := s.Mountpoint(ds)
			on, err := mountPoint(root, mp)
			if err != nil {
				return fmt.Errorf("export %s: %w", e.Path, unwrapPath(err))
			}
			if !on {
				return fmt.Errorf("export %s: dataset %s is not mounted at %s: the directory there belongs to the root filesystem, so it is not exported (zfs mount %s)", e.Path, ds, mp, ds)
			}
		}
	}
	return shadowed(root, want)
}

// mountPoint reports whether p is a mount point the way mountpoint(1)
// tells: its device differs from its parent's (or it is the root).
func mountPoint(root host.Root, p string) (bool, error) {
	if path.Clean(p) == "/" {
		return true, nil
	}
	fi, err := root.Stat(p)
	if err != nil {
		return false, err
	}
	pi, err := root.Stat(path.Dir(path.Clean(p)))
	if err != nil {
		return false, err
	}
	a, ok1 := fi.Sys().(*syscall.Stat_t)
	b, ok2 := pi.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return true, nil // no device numbers (a fake Root): cannot tell
	}
	return a.Dev != b.Dev || a.Ino == b.Ino, nil
}

// shadowed refuses an export whose path and client the admin's own
// exports already list with other options. nfs-utils reads /etc/exports
// first, then /etc/exports.d/*.exports in name order, and for a host and
// path keeps the first entry it reads, warning only (support/export/
// export.c export_read: "duplicated export entries"): the admin's line,
// looser or not, is what clients get (security review M4a).
func shadowed(root host.Root, want []Entry) error {
	files := []string{"/etc/exports"}
	if ents, err := root.ReadDir(path.Dir(ExportsFile)); err == nil {
		for _, e := range ents {
			n := path.Join(path.Dir(ExportsFile), e.Name())
			if strings.HasSuffix(e.Name(), ".exports") && n < ExportsFile {
				files = append(files, n)
			}
		}
	}
	ours := map[string][]string{}
	for _, e := range want {
		for _, c := range e.Clients {
			ours[path.Clean(e.Path)+" "+c.Host] = sortedCopy(c.Options)
		}
	}
	for _, f := range files {
		b, err := root.ReadFile(f)
		if err != nil {
			continue
		}
		theirs, err := ParseExports(string(b))
		if err != nil {
			continue // exportfs reports a broken admin file itself
		}
		for _, e := range theirs {
			for _, c := range e.Clients {
				mine, ok := ours[path.Clean(e.Path)+" "+c.Host]
				if !ok {
					continue
				}
				if got := sortedCopy(withDefaults(c.Options)); !slices.Equal(got, mine) {
					return fmt.Errorf("export %s to %s: %s exports it to that client already (%s), and nfs-utils serves the first entry it reads, not the seed's (%s): remove that line", e.Path, c.Host, f, strings.Join(c.Options, ","), strings.Join(mine, ","))
				}
			}
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
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

// serviceState reports whether the server is enabled and running.
func serviceState(ctx context.Context, r host.Runner) (enabled, active bool) {
	_, err := r.Run(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"is-enabled", "--quiet", Service}})
	if err != nil {
		return false, false
	}
	_, err = r.Run(ctx, host.Cmd{Name: SystemctlCmd, Args: []string{"is-active", "--quiet", Service}})
	return true, err == nil
}
