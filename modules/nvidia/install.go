package nvidia

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/internal/fetch"
	"github.com/phoenix-pve/phoenix/seed"
)

// RunfileFlags are always passed to the runfile: no prompts, a DKMS module
// (rebuilt on kernel updates), no X server on a hypervisor.
var RunfileFlags = []string{"--silent", "--dkms", "--no-x-check", "--accept-license"}

// debPackages are Debian's driver packages (non-free); purgePackages are the
// ones removed before a runfile install or a version change.
var (
	debPackages   = []string{"nvidia-driver", "nvidia-kernel-dkms", "nvidia-smi"}
	purgePackages = []string{"nvidia-driver", "nvidia-kernel-dkms", "nvidia-smi", "nvidia-driver-libs", "nvidia-persistenced"}
)

// install is phase 2: the driver itself, built for the running kernel and
// loaded.
func (j *job) install(ctx context.Context) (bool, error) {
	j.s.Say("nvidia 2/3: driver " + j.cfg.Version + " (" + j.cfg.Source + ")")
	v, mod := j.cfg.Version, j.module()
	dk, err := dkmsStatus(ctx, j.env.Runner)
	if err != nil {
		return false, err
	}
	runfile := host.Exists(j.env.Root, Uninstaller)
	missing, err := j.apt.Missing(ctx, debPackages...)
	if err != nil {
		return false, err
	}
	pkgs := len(missing) < len(debPackages) // some Debian driver package is installed
	var done bool
	switch j.cfg.Source {
	case SourceRunfile:
		done = runfile && !pkgs && has(dk, mod, v)
	case SourcePackages:
		done = !runfile && len(missing) == 0 && has(dk, mod, v)
	}
	if done && !builtFor(dk, mod, v, j.kernel) {
		// Installed, but the running kernel is newer than the build.
		err := j.do(func() error {
			if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "dkms", Args: []string{"install", "-m", mod, "-v", v, "-k", j.kernel}, Timeout: 30 * time.Minute}); err != nil {
				return fmt.Errorf("build %s %s for kernel %s: %w", mod, v, j.kernel, err)
			}
			return nil
		}, "build the %s/%s DKMS module for kernel %s", mod, v, j.kernel)
		if err != nil {
			return false, err
		}
	}
	if !done {
		if err := j.replace(ctx, runfile, pkgs, dk); err != nil {
			return false, err
		}
	}
	return j.loadModule(ctx)
}

// replace removes what conflicts with the target and installs it, then
// checks that DKMS built it for the running kernel.
func (j *job) replace(ctx context.Context, runfile, pkgs bool, dk []dkmsEntry) error {
	if err := j.refuseSecureBoot(ctx); err != nil {
		return err
	}
	if err := j.removeOld(ctx, runfile, pkgs, dk); err != nil {
		return err
	}
	var desc string
	var run func() error
	var err error
	if j.cfg.Source == SourceRunfile {
		desc, run, err = j.runfile(ctx)
	} else {
		desc, run, err = j.packages(ctx)
	}
	if err != nil {
		return err
	}
	v, mod := j.cfg.Version, j.module()
	j.driverChange = true
	return j.s.Do(desc, func() error {
		if err := run(); err != nil {
			return err
		}
		dk, err := dkmsStatus(ctx, j.env.Runner)
		if err != nil {
			return err
		}
		if !builtFor(dk, mod, v, j.kernel) {
			return fmt.Errorf("the driver %s installed, but DKMS has no %s/%s built for kernel %s", v, mod, v, j.kernel)
		}
		return nil
	})
}

// loadModule loads the module live when possible; an older module still loaded,
// or one the kernel refuses now, needs the reboot.
func (j *job) loadModule(ctx context.Context) (bool, error) {
	v := j.cfg.Version
	var why string
	if lv := loadedVersion(j.env.Root); lv != "" && lv != v {
		_ = j.do(func() error {
			if _, err := j.modprobe(ctx, "-r", "nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia"); err != nil {
				why = fmt.Sprintf("the old nvidia module %s is still loaded and in use", lv)
			}
			return nil
		}, "unload the nvidia module %s", lv)
	}
	if lv := loadedVersion(j.env.Root); why == "" && (lv == "" || lv != v) {
		j.driverChange = true
		_ = j.do(func() error {
			if msg, err := j.modprobe(ctx, "nvidia"); err != nil {
				why = "modprobe nvidia: " + msg
			}
			return nil
		}, "load the nvidia module")
	}
	if why != "" {
		return j.reboot(PhaseInstall, fmt.Sprintf("NVIDIA driver %s is installed; its module loads after a reboot (%s)", v, why),
			fmt.Sprintf("driver %s is installed but its kernel module still does not load after a reboot (%s); see `dmesg | grep -i nvidia`", v, why))
	}
	// A dry run takes the module as loaded once it listed the load.
	if lv := loadedVersion(j.env.Root); !j.pending() && lv != "" && lv != v {
		return j.reboot(PhaseInstall, fmt.Sprintf("NVIDIA driver %s is installed; the loaded module is still %s", v, lv),
			fmt.Sprintf("the loaded nvidia module is %s after a reboot, want %s", lv, v))
	}
	return false, j.setPhase(PhaseVerify)
}

// modprobe runs modprobe and returns its stderr's first line on failure.
func (j *job) modprobe(ctx context.Context, args ...string) (string, error) {
	out, err := j.env.Runner.Run(ctx, host.Cmd{Name: "modprobe", Args: args, Timeout: 5 * time.Minute})
	if err != nil {
		msg := strings.TrimSpace(string(out.Stderr))
		if msg == "" {
			msg = err.Error()
		}
		return firstLine(msg), err
	}
	return "", nil
}

// refuseSecureBoot stops before an install that would give a module the
// kernel refuses to load.
func (j *job) refuseSecureBoot(ctx context.Context) error {
	on, err := secureBoot(ctx, j.env.Root, j.env.Runner)
	if err != nil {
		return err
	}
	if on {
		return fmt.Errorf("UEFI Secure Boot is enabled: the kernel would refuse the unsigned nvidia module that DKMS builds. " +
			"Disable Secure Boot in the firmware, or enrol a Machine Owner Key (mokutil --import) and sign the module (runfile flags --module-signing-secret-key/--module-signing-public-key), then reseed")
	}
	return nil
}

// removeOld removes installs that conflict with the target: the other
// method, or another version.
func (j *job) removeOld(ctx context.Context, runfile, pkgs bool, dk []dkmsEntry) error {
	v := j.cfg.Version
	if runfile && (j.cfg.Source == SourcePackages || !has(dk, "nvidia", v)) {
		err := j.do(func() error {
			if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "nvidia-uninstall", Args: []string{"--silent"}, Timeout: 30 * time.Minute}); err != nil {
				return fmt.Errorf("remove the earlier runfile install: %w", err)
			}
			return nil
		}, "remove the earlier runfile driver")
		if err != nil {
			return err
		}
	}
	if pkgs && (j.cfg.Source == SourceRunfile || !has(dk, "nvidia-current", v)) {
		missing, err := j.apt.Missing(ctx, purgePackages...)
		if err != nil {
			return err
		}
		installed := slices.DeleteFunc(slices.Clone(purgePackages), func(p string) bool { return slices.Contains(missing, p) })
		return j.do(func() error {
			if _, err := j.apt.Purge(ctx, installed...); err != nil {
				return fmt.Errorf("remove the earlier driver packages: %w", err)
			}
			return nil
		}, "purge %s", strings.Join(installed, " "))
	}
	return nil
}

func has(dk []dkmsEntry, mod, v string) bool {
	for _, e := range dk {
		if e.Module == mod && e.Version == v {
			return true
		}
	}
	return false
}

// packages is the install of Debian's driver packages, after checking that
// apt offers the target version (they live in the non-free component).
func (j *job) packages(ctx context.Context) (string, func() error, error) {
	pol, err := policy(ctx, j.env.Runner, "nvidia-driver")
	if err != nil {
		return "", nil, err
	}
	cand := pol["nvidia-driver"].Candidate
	if cand == "" {
		return "", nil, fmt.Errorf("apt has no nvidia-driver package: enable the non-free and non-free-firmware components of the Debian repository (repos module) and run apt update")
	}
	if up := upstream(cand); up != j.cfg.Version {
		return "", nil, fmt.Errorf("apt offers nvidia-driver %s, the seed asks for %s: set version: %s, or use source: runfile for other versions", cand, j.cfg.Version, up)
	}
	pkgs := append([]string(nil), debPackages...)
	if j.persistenced() {
		pkgs = append(pkgs, "nvidia-persistenced")
	}
	miss, err := j.apt.Missing(ctx, pkgs...)
	if err != nil {
		return "", nil, err
	}
	if len(miss) == 0 {
		// Installed, but DKMS does not know the version: install again.
		miss = debPackages
	}
	j.brought = append(j.brought, pkgs...)
	return fmt.Sprintf("install %s (driver %s)", strings.Join(miss, " "), j.cfg.Version), func() error {
		_, err := j.apt.Install(ctx, pkgs...)
		return err
	}, nil
}

var safeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*\.run$`) })

// runfile is the install from NVIDIA's runfile (bundle or download, checked
// first).
func (j *job) runfile(ctx context.Context) (string, func() error, error) {
	rf := j.cfg.Runfile
	file, err := j.fetch(ctx, rf)
	if err != nil {
		return "", nil, err
	}
	if rf.SHA256 == "" {
		j.s.Note("runfile not verified: the seed gives no runfile.sha256")
	}
	return fmt.Sprintf("install NVIDIA driver %s from %s", j.cfg.Version, filepath.Base(file)), func() error {
		// sh FILE is how NVIDIA documents running it: no exec bit needed.
		args := append(append([]string{file}, RunfileFlags...), rf.Flags...)
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "sh", Args: args, Timeout: time.Hour}); err != nil {
			return fmt.Errorf("runfile %s: %w (the installer logs to /var/log/nvidia-installer.log)", filepath.Base(file), err)
		}
		return nil
	}, nil
}

// fetch returns the real path of a verified runfile: the bundle's copy, or
// a download into CacheDir (to a .part file first, so a crash never leaves
// a truncated file that looks complete).
func (j *job) fetch(ctx context.Context, rf *seed.Runfile) (string, error) {
	if rf.File != "" {
		if j.env.Bundle == "" {
			return "", fmt.Errorf("runfile.file %q: the seed came without a bundle (seed volume) to take it from", rf.File)
		}
		p := filepath.Join(j.env.Bundle, filepath.Clean("/"+rf.File))
		if err := verify(p, rf.SHA256); err != nil {
			return "", err
		}
		return p, nil
	}
	name := path.Base(rf.URL)
	if !safeName().MatchString(name) {
		name = "NVIDIA-Linux-" + j.cfg.Version + ".run"
	}
	final := j.env.Root.Path(path.Join(CacheDir, name))
	if _, err := os.Stat(final); err == nil {
		if verify(final, rf.SHA256) == nil {
			return final, nil
		}
		// A different file under the same name (the sha changed): fetch
		// again.
	}
	return final, j.do(func() error {
		if err := j.env.Root.MkdirAll(CacheDir, 0o700, host.Owner{}); err != nil {
			return err
		}
		if err := fetch.Download(ctx, j.env.Runner, rf.URL, final, rf.SHA256); err != nil {
			if mm := (*fetch.MismatchError)(nil); errors.As(err, &mm) {
				return refuse(final, mm)
			}
			return fmt.Errorf("download runfile: %w", err)
		}
		return nil
	}, "download %s", name)
}

// verify checks p against want (hex sha256); "" checks only that it exists.
func verify(p, want string) error {
	err := fetch.Verify(p, want)
	if mm := (*fetch.MismatchError)(nil); errors.As(err, &mm) {
		return refuse(p, mm)
	}
	if err != nil {
		return fmt.Errorf("runfile: %w", err)
	}
	return nil
}

func refuse(p string, mm *fetch.MismatchError) error {
	return fmt.Errorf("runfile %s: sha256 is %s, the seed says %s: refusing to run it", filepath.Base(p), mm.Got, mm.Want)
}
