package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
	"github.com/phoenix-pve/phoenix/units"
)

// stateDir is Phoenix's state (markers, status, logs); uninstall keeps it
// unless --purge, so a reinstall does not redo finished work.
const stateDir = "/var/lib/phoenix"

func init() {
	register(command{name: "install", summary: "install the binary, units and seed into / or --root DIR", run: runInstall})
	register(command{name: "uninstall", summary: "remove what install wrote (--purge: also seed and state)", run: runUninstall})
}

func runInstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("install", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("root", "/", "install into this root `DIR` (a mounted image or chroot)")
	enable := fl.Bool("enable", false, "enable "+units.Boot+", "+units.ReseedPath+" and "+units.ReseedService)
	seedFile := fl.String("seed", "", "install this seed `FILE` as "+units.SeedFile+" (validated first)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: phoenix install [--root DIR] [--enable] [--seed FILE]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil || fl.NArg() != 0 {
		if err == nil {
			fl.Usage()
		}
		return exitUsage
	}
	in := installer{root: host.NewDirRoot(*dir), out: stdout}
	in.live = in.root.Dir() == "/"

	// Everything that can be refused is checked before the first write, so
	// a bad seed or an unreadable binary leaves the root untouched.
	var seedData []byte
	if *seedFile != "" {
		data, err := os.ReadFile(*seedFile)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix install: %v\n", err)
			return exitUsage
		}
		if _, err := seed.Load(filepath.Base(*seedFile), data); err != nil {
			fmt.Fprintf(stderr, "phoenix install: seed %s is invalid, nothing installed:\n%v\n", *seedFile, err)
			return exitFailed
		}
		// It is installed as seed.yaml: it must also read as YAML (JSON
		// with \/ escapes does not).
		if _, err := seed.Load(filepath.Base(units.SeedFile), data); err != nil {
			fmt.Fprintf(stderr, "phoenix install: seed %s does not read as YAML (it is installed as %s); convert it: %v\n", *seedFile, units.SeedFile, err)
			return exitFailed
		}
		seedData = data
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	var bin []byte
	if err == nil {
		bin, err = os.ReadFile(exe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "phoenix install: read own binary: %v\n", err)
		return exitFailed
	}

	if err := in.install(ctx, bin, seedData, *enable); err != nil {
		fmt.Fprintf(stderr, "phoenix install: %v\n", err)
		return exitFailed
	}
	if in.changed == 0 {
		fmt.Fprintf(stdout, "phoenix install: %s is up to date, nothing changed\n", in.root.Dir())
	} else {
		fmt.Fprintf(stdout, "phoenix install: %d change(s) in %s\n", in.changed, in.root.Dir())
	}
	return exitOK
}

// installer writes and removes Phoenix's files in one root, counting and
// printing each change so a second install can say "nothing changed".
type installer struct {
	root    *host.DirRoot
	live    bool
	out     io.Writer
	changed int
}

func (in *installer) note(format string, a ...any) {
	in.changed++
	fmt.Fprintf(in.out, format+"\n", a...)
}

func (in *installer) write(p string, data []byte, mode fs.FileMode) error {
	changed, err := host.WriteIfChanged(in.root, p, data, mode, host.Owner{})
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if changed {
		in.note("wrote %s", p)
	}
	return nil
}

func (in *installer) install(ctx context.Context, bin, seedData []byte, enable bool) error {
	// --root DIR may name a directory still to be made (an image being
	// assembled).
	if err := os.MkdirAll(in.root.Dir(), 0o755); err != nil {
		return err
	}
	// With the Debian package installed, its binary and units are the ones
	// to run: copies in /usr/local/sbin and /etc/systemd/system would
	// shadow them and survive every upgrade. install then only adds the
	// seed and enables (docs/packaging.md).
	packaged := host.Exists(in.root, units.PackageBinary) && host.Exists(in.root, path.Join(units.PackageDir, units.Boot))
	unitsChanged := 0
	if packaged {
		fmt.Fprintf(in.out, "phoenix install: the phoenix package is installed (%s): using its binary and units\n", units.PackageBinary)
	} else {
		if err := in.write(units.Binary, bin, 0o755); err != nil {
			return err
		}
		unitsChanged = in.changed
		for _, u := range units.All() {
			if err := in.write(units.Path(u.Name), u.Data, 0o644); err != nil {
				return err
			}
		}
		unitsChanged = in.changed - unitsChanged
	}
	if seedData != nil {
		// The seed may hold password hashes: 0600, in a 0700 directory.
		if err := in.root.MkdirAll(filepath.Dir(units.SeedFile), 0o700, host.Owner{}); err != nil {
			return fmt.Errorf("mkdir %s: %w", filepath.Dir(units.SeedFile), err)
		}
		if err := in.write(units.SeedFile, seedData, 0o600); err != nil {
			return err
		}
		// Its digest, after it: the reseed unit runs a new seed only once
		// the two agree, never a half-written one.
		sum := strings.TrimPrefix(bootstrap.Digest(seedData), "sha256:") + "  " + filepath.Base(units.SeedFile) + "\n"
		if err := in.write(units.SeedFile+DigestSuffix, []byte(sum), 0o600); err != nil {
			return err
		}
	}
	if unitsChanged > 0 {
		if err := units.Reload(ctx, in.root, in.live); err != nil {
			return err
		}
	}
	if !enable {
		return nil
	}
	for _, name := range units.Enabled() {
		on, err := units.IsEnabled(in.root, name)
		if err != nil {
			return err
		}
		if on {
			continue
		}
		if err := units.Enable(ctx, in.root, in.live, name); err != nil {
			return err
		}
		in.note("enabled %s", name)
	}
	return nil
}

func runUninstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("uninstall", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("root", "/", "uninstall from this root `DIR`")
	purge := fl.Bool("purge", false, "also remove "+filepath.Dir(units.SeedFile)+" (the seed) and "+stateDir+" (markers, status, logs)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: phoenix uninstall [--root DIR] [--purge]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil || fl.NArg() != 0 {
		if err == nil {
			fl.Usage()
		}
		return exitUsage
	}
	in := installer{root: host.NewDirRoot(*dir), out: stdout}
	in.live = in.root.Dir() == "/"
	if err := in.uninstall(ctx, *purge); err != nil {
		fmt.Fprintf(stderr, "phoenix uninstall: %v\n", err)
		return exitFailed
	}
	if !*purge {
		for _, p := range []string{units.SeedFile, stateDir} {
			if host.Exists(in.root, p) {
				fmt.Fprintf(stdout, "kept %s (phoenix uninstall --purge removes it)\n", p)
			}
		}
	}
	fmt.Fprintf(stdout, "phoenix uninstall: %d change(s) in %s\n", in.changed, in.root.Dir())
	return exitOK
}

func (in *installer) uninstall(ctx context.Context, purge bool) error {
	// The path unit would fire on a seed written later; stop it first. The
	// boot unit is not stopped: uninstalling from inside a run is not a
	// thing to support, and stopping it would kill that run half-way.
	if err := units.Stop(ctx, in.root, in.live, units.ReseedPath); err != nil {
		return err
	}
	var names []string
	for _, u := range units.All() {
		names = append(names, u.Name)
	}
	for _, name := range names {
		on, err := units.IsEnabled(in.root, name)
		if err != nil {
			return err
		}
		if !on {
			continue
		}
		if err := units.Disable(ctx, in.root, in.live, name); err != nil {
			return err
		}
		in.note("disabled %s", name)
	}
	for _, name := range names {
		if err := in.remove(units.Path(name)); err != nil {
			return err
		}
	}
	if err := units.Reload(ctx, in.root, in.live); err != nil {
		return err
	}
	if err := in.remove(units.Binary); err != nil {
		return err
	}
	if purge {
		// The trust anchor stays: removing it would let the next unsigned
		// stick provision this already provisioned host (M2).
		anchor, _ := in.root.ReadFile(bootstrap.TrustAnchorFile)
		for _, p := range []string{filepath.Dir(units.SeedFile), stateDir} {
			if !host.Exists(in.root, p) {
				continue
			}
			// Plain RemoveAll under the root's real path: Root has no
			// recursive remove, and these trees are Phoenix's own.
			if err := os.RemoveAll(in.root.Path(p)); err != nil {
				return fmt.Errorf("remove %s: %w", p, err)
			}
			in.note("removed %s", p)
		}
		if anchor != nil {
			if err := in.root.MkdirAll(filepath.Dir(bootstrap.TrustAnchorFile), 0o700, host.Owner{}); err != nil {
				return err
			}
			if err := in.root.WriteFile(bootstrap.TrustAnchorFile, anchor, 0o644, host.Owner{}); err != nil {
				return err
			}
			fmt.Fprintf(in.out, "kept %s (this host was provisioned: unsigned seed sticks stay refused; remove it by hand to accept them)\n", bootstrap.TrustAnchorFile)
		}
	}
	return nil
}

func (in *installer) remove(p string) error {
	err := in.root.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	in.note("removed %s", p)
	return nil
}
