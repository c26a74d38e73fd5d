package units

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/coreos/go-systemd/v22/dbus"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// manager is the part of systemd's D-Bus API Enable and Disable use; an
// interface so tests can stand in for systemd, which is not PID 1 on build
// machines.
type manager interface {
	EnableUnitFilesContext(ctx context.Context, files []string, runtime, force bool) (bool, []dbus.EnableUnitFileChange, error)
	DisableUnitFilesContext(ctx context.Context, files []string, runtime bool) ([]dbus.DisableUnitFileChange, error)
	ReloadContext(ctx context.Context) error
	StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	Close()
}

// connect opens the D-Bus connection to systemd. As root, go-systemd uses
// systemd's private socket, so no dbus-daemon is needed (a Debian minbase
// system has none).
var connect = defaultConnect

func defaultConnect(ctx context.Context) (manager, error) { return dbus.NewWithContext(ctx) }

// booted is host.SystemdBooted, a variable so tests, which run where
// systemd is not PID 1, can stand in a booted system. It says no in a
// chroot: there the system bus and systemd's private socket, when the
// host's /run is bind-mounted as image builds do for apt, are the build
// machine's, and enabling over them would enable (or fail to find) the
// unit on that machine, not in the image.
var booted = host.SystemdBooted

// online reports whether systemd may be asked over D-Bus: a live run on
// the running system's own root, booted with systemd, as svc and the
// engine's reboot decide it.
func online(root host.Root, live bool) bool {
	return live && host.IsLive(root) && booted()
}

// Enable enables the named units (names like "phoenix.service", installed in
// Dir of root).
//
// With live set and root being "/", it asks systemd over D-Bus
// (EnableUnitFiles, then Reload), so systemd sees the change at once. When
// systemd is not booted here (an installer, a build machine, a chroot,
// whose /run may be the host's) or cannot be reached, or the root is an
// offline directory, it creates the symlinks
// `systemctl enable` would: Dir/<target>.wants/<name> -> Dir/<name> for each
// WantedBy= target of the unit's [Install] section. Enabling an enabled unit
// changes nothing.
func Enable(ctx context.Context, root host.Root, live bool, names ...string) error {
	return switchUnits(ctx, root, live, names, "enable", func(m manager) error {
		_, _, err := m.EnableUnitFilesContext(ctx, names, false, true)
		return err
	}, enableLinks)
}

// Disable disables the named units: over D-Bus on a live system, else by
// removing every Dir/*.wants/<name> symlink (also those of targets the unit
// no longer lists). Disabling a disabled or missing unit changes nothing.
func Disable(ctx context.Context, root host.Root, live bool, names ...string) error {
	return switchUnits(ctx, root, live, names, "disable", func(m manager) error {
		_, err := m.DisableUnitFilesContext(ctx, names, false)
		return err
	}, disableLinks)
}

// switchUnits is Enable and Disable: the D-Bus call then daemon-reload on a
// live system, else (no systemd to talk to, or an offline root) the wants
// symlinks, which are all that enabling is.
func switchUnits(ctx context.Context, root host.Root, live bool, names []string, verb string,
	viaDBus func(manager) error, viaLinks func(host.Root, string) error) error {
	if len(names) == 0 {
		return nil
	}
	if online(root, live) {
		if m, err := connect(ctx); err == nil {
			defer m.Close()
			if err := viaDBus(m); err != nil {
				return fmt.Errorf("units: %s %s: %w", verb, strings.Join(names, " "), err)
			}
			if err := m.ReloadContext(ctx); err != nil {
				return fmt.Errorf("units: daemon-reload: %w", err)
			}
			return nil
		}
	}
	for _, name := range names {
		if err := viaLinks(root, name); err != nil {
			return err
		}
	}
	return nil
}

// Reload makes a live systemd re-read its unit files (daemon-reload), so
// rewritten units take effect. It does nothing on an offline root or when
// systemd cannot be reached: there, the next boot reads the files anyway.
func Reload(ctx context.Context, root host.Root, live bool) error {
	if !online(root, live) {
		return nil
	}
	m, err := connect(ctx)
	if err != nil {
		return nil
	}
	defer m.Close()
	if err := m.ReloadContext(ctx); err != nil {
		return fmt.Errorf("units: daemon-reload: %w", err)
	}
	return nil
}

// Stop stops the named units on a live system and waits for each stop job.
// Offline (or without systemd) nothing runs, so there is nothing to stop.
// Never call it from the unit being stopped.
func Stop(ctx context.Context, root host.Root, live bool, names ...string) error {
	if !online(root, live) || len(names) == 0 {
		return nil
	}
	m, err := connect(ctx)
	if err != nil {
		return nil
	}
	defer m.Close()
	for _, name := range names {
		done := make(chan string, 1)
		if _, err := m.StopUnitContext(ctx, name, "replace", done); err != nil {
			return fmt.Errorf("units: stop %s: %w", name, err)
		}
		select {
		case res := <-done:
			if res != "done" {
				return fmt.Errorf("units: stop %s: job %s", name, res)
			}
		case <-ctx.Done():
			return fmt.Errorf("units: stop %s: %w", name, ctx.Err())
		}
	}
	return nil
}

// IsEnabled reports whether name has a wants symlink under Dir in root.
func IsEnabled(root host.Root, name string) (bool, error) {
	links, err := wantsLinks(root, name)
	return len(links) > 0, err
}

// unitFile reads the installed unit from the first unit directory that has
// it (the admin's /etc, then the package's), falling back to the embedded
// copy so a unit can be enabled in the same breath as it is written. It
// returns the path the wants symlink must point to.
func unitFile(root host.Root, name string) (data []byte, at string, err error) {
	for _, dir := range unitDirs {
		p := path.Join(dir, name)
		data, err := root.ReadFile(p)
		if err == nil {
			return data, p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("units: enable %s: %w", name, err)
		}
	}
	if data, err := Read(name); err == nil {
		return data, Path(name), nil
	}
	return nil, "", fmt.Errorf("units: enable %s: not installed in %s", name, strings.Join(unitDirs, " or "))
}

func enableLinks(root host.Root, name string) error {
	data, at, err := unitFile(root, name)
	if err != nil {
		return err
	}
	targets := WantedBy(data)
	if len(targets) == 0 {
		return fmt.Errorf("units: enable %s: no WantedBy= in [Install]; it is started by another unit", name)
	}
	for _, t := range targets {
		link := path.Join(Dir, t+".wants", name)
		if cur, err := root.Readlink(link); err == nil && cur == at {
			continue
		}
		if err := root.Symlink(at, link); err != nil {
			return fmt.Errorf("units: enable %s: %w", name, err)
		}
	}
	return nil
}

func disableLinks(root host.Root, name string) error {
	links, err := wantsLinks(root, name)
	if err != nil {
		return fmt.Errorf("units: disable %s: %w", name, err)
	}
	for _, l := range links {
		if err := root.Remove(l); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("units: disable %s: %w", name, err)
		}
	}
	return nil
}

// wantsLinks lists the Dir/*.wants/<name> and Dir/*.requires/<name>
// entries in root.
func wantsLinks(root host.Root, name string) ([]string, error) {
	entries, err := root.ReadDir(Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || !(strings.HasSuffix(e.Name(), ".wants") || strings.HasSuffix(e.Name(), ".requires")) {
			continue
		}
		l := path.Join(Dir, e.Name(), name)
		if host.Exists(root, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Switch turns the boot unit on and off in one root. It has the method set
// of the engine's bootstrap.UnitSwitch, so the engine uses the same code as
// install: D-Bus on a live system, symlinks offline or without systemd.
type Switch struct {
	Root host.Root
	Live bool
}

// EnableBoot enables Boot (a reseed that needs a reboot continues there).
func (s Switch) EnableBoot(ctx context.Context) error { return Enable(ctx, s.Root, s.Live, Boot) }

// DisableBoot disables Boot (every module converged).
func (s Switch) DisableBoot(ctx context.Context) error { return Disable(ctx, s.Root, s.Live, Boot) }
