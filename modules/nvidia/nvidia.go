package nvidia

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/modules/internal/fetch"
	"github.com/phoenix-pve/phoenix/seed"
)

// Store keys. The LXC module reads KeyDevices and KeyVersion.
const (
	KeyPhase   = "nvidia/phase"
	KeyDevices = "nvidia/devices" // map[string]int: /proc/devices name -> major
	KeyVersion = "nvidia/version" // driver version string
	KeyNodes   = "nvidia/nodes"   // the device node unit that was enabled
)

// Phases, in order.
const (
	PhasePrepare = "prepare"
	PhaseInstall = "install"
	PhaseVerify  = "verify"
	PhaseDone    = "done"
)

// Source methods of seed.NVIDIA.Source.
const (
	SourceRunfile  = "runfile"
	SourcePackages = "packages"
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

// blacklistConf keeps nouveau off the GPUs, also in the initramfs.
const blacklistConf = "# Written by phoenix (nvidia module): the NVIDIA driver needs the GPUs.\nblacklist nouveau\noptions nouveau modeset=0\n"

// modulesLoadConf is read by systemd-modules-load at boot.
const modulesLoadConf = "# Written by phoenix (nvidia module): device nodes for containers at boot.\nnvidia\nnvidia-uvm\n"

// persistencedUnit is the unit written for runfile installs, modelled on
// NVIDIA's sample (nvidia-persistenced-init), running as root.
const persistencedUnit = `# Written by phoenix (nvidia module) for a runfile install.
[Unit]
Description=NVIDIA Persistence Daemon
Wants=syslog.target

[Service]
Type=forking
ExecStart=/usr/bin/nvidia-persistenced --verbose
ExecStopPost=/bin/rm -rf /var/run/nvidia-persistenced

[Install]
WantedBy=multi-user.target
`

// Module installs the NVIDIA driver.
type Module struct {
	// Apt makes the apt client; nil is apt.New. Tests replace it to skip
	// the retry backoff.
	Apt func(host.Runner) *apt.Client
}

var _ modules.Module = (*Module)(nil)

// New returns the nvidia module.
func New() *Module { return &Module{} }

func (m *Module) apt(r host.Runner) *apt.Client {
	if m.Apt != nil {
		return m.Apt(r)
	}
	return apt.New(r)
}

// Name implements modules.Module.
func (*Module) Name() string { return "nvidia" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.NVIDIA != nil }

// Progress is the module's resumable record (Store key "nvidia/phase").
type Progress struct {
	// Target is what the record is for (version, source and its
	// location); a new target starts over, reboot counts included.
	Target string `json:"target"`
	Phase  string `json:"phase"`
	// Reboots counts the reboots asked for per phase: at most one each.
	// Cleared when the target is done.
	Reboots map[string]int `json:"reboots,omitempty"`
	// RebootBoot is the boot id when the last reboot was asked for; the
	// same id on the next run means that reboot has not happened yet.
	RebootBoot string `json:"reboot_boot,omitempty"`
	// Initramfs is the digest of the blacklist the initramfs was last
	// rebuilt with.
	Initramfs string `json:"initramfs,omitempty"`
	// Persistenced is set once nvidia-persistenced was enabled.
	Persistenced bool `json:"persistenced,omitempty"`
}

func target(c *seed.NVIDIA) string {
	t := c.Version + " " + c.Source
	if rf := c.Runfile; c.Source == SourceRunfile && rf != nil {
		t += " " + rf.URL + rf.File + " " + rf.SHA256 + " " + strings.Join(rf.Flags, " ")
	}
	return t
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// job is one Apply.
type job struct {
	env    *modules.Env
	cfg    *seed.NVIDIA
	apt    *apt.Client
	p      Progress
	saved  string // p as last stored, to write only on change
	kernel string
	gpus   []GPU
	res    modules.Result
}

func (j *job) changed(format string, a ...any) {
	j.res.Changed = append(j.res.Changed, fmt.Sprintf(format, a...))
}

func (j *job) note(format string, a ...any) {
	j.res.Notes = append(j.res.Notes, fmt.Sprintf(format, a...))
}

func (j *job) save() error {
	b, _ := json.Marshal(j.p)
	if string(b) == j.saved {
		return nil
	}
	if err := j.env.Store.Put(KeyPhase, j.p); err != nil {
		return err
	}
	j.saved = string(b)
	return nil
}

// setPhase records that the run reached phase ph. It never moves back: a
// rerun of a converged host passes through the earlier phases' checks
// without rewriting the record.
func (j *job) setPhase(ph string) error {
	if phaseIndex(ph) > phaseIndex(j.p.Phase) {
		j.p.Phase = ph
	}
	return j.save()
}

func phaseIndex(ph string) int {
	for i, p := range []string{PhasePrepare, PhaseInstall, PhaseVerify, PhaseDone} {
		if p == ph {
			return i
		}
	}
	return -1
}

// gpuCheck finds the host's GPUs. With none, it returns the note that
// says why the module skips, or the error when the seed requires a GPU.
func gpuCheck(env *modules.Env, cfg *seed.NVIDIA) (gpus []GPU, note string, err error) {
	all, err := DetectGPUs(env.Root)
	if err != nil {
		return nil, "", err
	}
	gpus = hostGPUs(all)
	if len(gpus) > 0 {
		return gpus, "", nil
	}
	why := "no NVIDIA GPU found (PCI vendor 0x10de, class 0x03xxxx under " + PCIDevices + ")"
	if len(all) > 0 {
		why = fmt.Sprintf("all %d NVIDIA GPUs are bound to vfio-pci (passed through to VMs)", len(all))
	}
	if cfg.RequireGPU {
		return nil, "", fmt.Errorf("%s and require_gpu is set", why)
	}
	return nil, why + ": skipped (require_gpu is false)", nil
}

// Converge implements modules.Module. This module still reads its plan
// (check.go) apart from its Apply (nvidia.go apply); the table test in modules/all
// holds the two to the same changes on a fresh host.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.plan, m.apply)
}

// apply converges the host.
func (m *Module) apply(ctx context.Context, env *modules.Env) (modules.Result, error) {
	cfg := env.Seed.NVIDIA
	gpus, note, err := gpuCheck(env, cfg)
	if err != nil || note != "" {
		return modules.Result{Notes: nonEmpty(note)}, err
	}
	if cfg.Source != SourceRunfile && cfg.Source != SourcePackages {
		return modules.Result{}, fmt.Errorf("source %q: want runfile or packages", cfg.Source)
	}
	kernel, err := kernelRelease(env.Root)
	if err != nil {
		return modules.Result{}, err
	}
	j := &job{env: env, cfg: cfg, apt: m.apt(env.Runner), kernel: kernel, gpus: gpus}
	if _, err := env.Store.Get(KeyPhase, &j.p); err != nil {
		return j.res, err
	}
	b, _ := json.Marshal(j.p)
	j.saved = string(b)
	if t := target(cfg); j.p.Target != t {
		// A first run, or a reseed with another version or source: start
		// over, with fresh reboot allowances for the new change.
		j.p = Progress{Target: t, Phase: PhasePrepare, Initramfs: j.p.Initramfs}
	}
	if j.p.Reboots == nil {
		j.p.Reboots = map[string]int{}
	}
	if err := j.save(); err != nil {
		return j.res, err
	}
	if j.p.Phase == PhasePrepare {
		// Refuse Secure Boot before the first reboot, not after it,
		// unless the target driver already runs (signed by the admin).
		if vs, err := smiVersions(ctx, env.Runner); err != nil || sameVersion(vs, cfg.Version, len(gpus)) != nil {
			if err := j.refuseSecureBoot(ctx); err != nil {
				return j.res, err
			}
		}
	}
	for _, step := range []func(context.Context) (bool, error){j.prepare, j.install, j.verify} {
		reboot, err := step(ctx)
		if err != nil || reboot {
			return j.res, err
		}
	}
	return j.res, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// reboot asks for the phase's one reboot, recording it first. A phase that
// needs a reboot again after its reboot fails with failMsg instead.
func (j *job) reboot(phase, reason, failMsg string) (bool, error) {
	if j.p.Reboots[phase] > 0 {
		if j.env.BootID != "" && j.env.BootID == j.p.RebootBoot {
			// Still the boot that asked: the reboot has not happened yet
			// (the engine stopped before it). Asking again is the same
			// reboot, not a second one.
			j.res.Reboot, j.res.Reason = true, reason
			return true, nil
		}
		return false, errors.New("" + failMsg + "; not rebooting again")
	}
	j.p.Reboots[phase]++
	j.p.RebootBoot = j.env.BootID
	j.p.Phase = phase
	if err := j.save(); err != nil {
		return false, err
	}
	j.res.Reboot, j.res.Reason = true, reason
	return true, nil
}

// headers picks the headers package for the running kernel among the names
// Proxmox and Debian use, preferring one already installed, then the first
// apt can install.
func (j *job) headers(ctx context.Context) (string, error) {
	cands := headerCandidates(j.kernel)
	pol, err := policy(ctx, j.env.Runner, cands...)
	if err != nil {
		return "", err
	}
	for _, c := range cands {
		if pol[c].Installed != "" {
			return c, nil
		}
	}
	for _, c := range cands {
		if pol[c].Candidate != "" {
			return c, nil
		}
	}
	return "", fmt.Errorf("no kernel headers for the running kernel %s in apt (tried %s): enable the Proxmox repository and run apt update, or boot a kernel that has headers",
		j.kernel, strings.Join(cands, ", "))
}

func headerCandidates(kernel string) []string {
	return []string{"proxmox-headers-" + kernel, "pve-headers-" + kernel, "linux-headers-" + kernel}
}

// MetaHeaders are the packages that always depend on the headers of the
// newest kernel of the default series, tried in order: proxmox-default-headers
// (PVE 8 and 9, next to proxmox-default-kernel), pve-headers (its name up
// to PVE 7), linux-headers-amd64 (plain Debian). With one installed, every
// kernel upgrade brings its headers, and DKMS's kernel postinst hook
// rebuilds the driver for it; without headers the hook skips the kernel
// (dkms dkms_autoinstaller.in:32-35, at 793fdab), and the next boot has no
// driver. No Proxmox source names the meta package; the name is the one
// Proxmox's guidance and the PVE 9 field notes use.
var MetaHeaders = []string{"proxmox-default-headers", "pve-headers", "linux-headers-amd64"}

// metaHeaders picks the installed headers meta package, else the first apt
// can install; "" when apt has none.
func (j *job) metaHeaders(ctx context.Context) (string, error) {
	pol, err := policy(ctx, j.env.Runner, MetaHeaders...)
	if err != nil {
		return "", err
	}
	for _, c := range MetaHeaders {
		if pol[c].Installed != "" {
			return c, nil
		}
	}
	for _, c := range MetaHeaders {
		if pol[c].Candidate != "" {
			return c, nil
		}
	}
	return "", nil
}

// prepare is phase 1: build prerequisites and nouveau out of the way.
func (j *job) prepare(ctx context.Context) (bool, error) {
	j.env.Say("nvidia 1/3: kernel headers, build tools, nouveau blacklist")
	hdr, err := j.headers(ctx)
	if err != nil {
		return false, err
	}
	pkgs := []string{hdr, "build-essential", "dkms"}
	switch meta, err := j.metaHeaders(ctx); {
	case err != nil:
		return false, err
	case meta == "":
		j.note("no kernel headers meta package in apt (tried %s): DKMS cannot rebuild the driver for the next kernel; install one before upgrading the kernel", strings.Join(MetaHeaders, ", "))
	default:
		pkgs = append(pkgs, meta)
	}
	got, err := j.apt.Install(ctx, pkgs...)
	if err != nil {
		return false, fmt.Errorf("prerequisites: %w", err)
	}
	if len(got) > 0 {
		j.changed("installed %s", strings.Join(got, " "))
	}
	if b, err := j.env.Root.ReadFile(BlacklistFile); err != nil || string(b) != blacklistConf {
		// Forget the rebuilt initramfs first: a crash between the write
		// and update-initramfs must not leave a record saying it is done.
		j.p.Initramfs = ""
		if err := j.save(); err != nil {
			return false, err
		}
		if _, err := host.WriteIfChanged(j.env.Root, BlacklistFile, []byte(blacklistConf), 0o644, host.Owner{}); err != nil {
			return false, fmt.Errorf("blacklist nouveau: %w", err)
		}
		j.changed("wrote %s", BlacklistFile)
	}
	// The digest is recorded after update-initramfs succeeded, so a crash
	// in between rebuilds it again rather than never.
	if d := sum([]byte(blacklistConf)); j.p.Initramfs != d {
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "update-initramfs", Args: []string{"-u"}, Timeout: 15 * time.Minute}); err != nil {
			return false, fmt.Errorf("rebuild initramfs: %w", err)
		}
		j.p.Initramfs = d
		if err := j.save(); err != nil {
			return false, err
		}
		j.changed("rebuilt the initramfs without nouveau")
	}
	if loaded(j.env.Root, "nouveau") {
		return j.reboot(PhasePrepare, "nouveau is loaded; it is blacklisted now and goes away with a reboot",
			"nouveau is still loaded after the reboot that should have unloaded it ("+BlacklistFile+" and the initramfs blacklist it); check the kernel command line and /etc/modprobe.d for something that loads it")
	}
	return false, j.setPhase(PhaseInstall)
}

// install is phase 2: the driver itself.
func (j *job) install(ctx context.Context) (bool, error) {
	j.env.Say("nvidia 2/3: driver " + j.cfg.Version + " (" + j.cfg.Source + ")")
	v := j.cfg.Version
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

	mod := "nvidia"
	if j.cfg.Source == SourcePackages {
		mod = "nvidia-current"
	}
	registered := false // DKMS knows the target version (maybe for another kernel)
	for _, e := range dk {
		registered = registered || (e.Module == mod && e.Version == v)
	}
	var done bool
	switch j.cfg.Source {
	case SourceRunfile:
		done = runfile && !pkgs && registered
	case SourcePackages:
		done = !runfile && len(missing) == 0 && registered
	}
	if done && !builtFor(dk, mod, v, j.kernel) {
		// Installed, but the running kernel is newer than the build.
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "dkms", Args: []string{"install", "-m", mod, "-v", v, "-k", j.kernel}, Timeout: 30 * time.Minute}); err != nil {
			return false, fmt.Errorf("build %s %s for kernel %s: %w", mod, v, j.kernel, err)
		}
		j.changed("built %s %s for kernel %s", mod, v, j.kernel)
	}
	if !done {
		if err := j.refuseSecureBoot(ctx); err != nil {
			return false, err
		}
		if err := j.removeOld(ctx, runfile, pkgs, dk); err != nil {
			return false, err
		}
		if j.cfg.Source == SourceRunfile {
			err = j.installRunfile(ctx)
		} else {
			err = j.installPackages(ctx)
		}
		if err != nil {
			return false, err
		}
		if dk, err = dkmsStatus(ctx, j.env.Runner); err != nil {
			return false, err
		}
		if !builtFor(dk, mod, v, j.kernel) {
			return false, fmt.Errorf("the driver %s installed, but DKMS has no %s/%s built for kernel %s", v, mod, v, j.kernel)
		}
	}

	// Load it live when possible; an older module still loaded, or one the
	// kernel refuses now, needs the reboot.
	var why string
	if lv := loadedVersion(j.env.Root); lv != "" && lv != v {
		if _, err := j.modprobe(ctx, "-r", "nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia"); err != nil {
			why = fmt.Sprintf("the old nvidia module %s is still loaded and in use", lv)
		}
	}
	if why == "" {
		if msg, err := j.modprobe(ctx, "nvidia"); err != nil {
			why = "modprobe nvidia: " + msg
		}
	}
	if why != "" {
		return j.reboot(PhaseInstall, fmt.Sprintf("NVIDIA driver %s is installed; its module loads after a reboot (%s)", v, why),
			fmt.Sprintf("driver %s is installed but its kernel module still does not load after a reboot (%s); see `dmesg | grep -i nvidia`", v, why))
	}
	if lv := loadedVersion(j.env.Root); lv != "" && lv != v {
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
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "nvidia-uninstall", Args: []string{"--silent"}, Timeout: 30 * time.Minute}); err != nil {
			return fmt.Errorf("remove the earlier runfile install: %w", err)
		}
		j.changed("removed the earlier runfile driver")
	}
	if pkgs && (j.cfg.Source == SourceRunfile || !has(dk, "nvidia-current", v)) {
		gone, err := j.apt.Purge(ctx, purgePackages...)
		if err != nil {
			return fmt.Errorf("remove the earlier driver packages: %w", err)
		}
		if len(gone) > 0 {
			j.changed("purged %s", strings.Join(gone, " "))
		}
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

// installPackages installs Debian's driver packages, after checking that
// apt offers the target version (they live in the non-free component).
func (j *job) installPackages(ctx context.Context) error {
	pol, err := policy(ctx, j.env.Runner, "nvidia-driver")
	if err != nil {
		return err
	}
	cand := pol["nvidia-driver"].Candidate
	if cand == "" {
		return fmt.Errorf("apt has no nvidia-driver package: enable the non-free and non-free-firmware components of the Debian repository (repos module) and run apt update")
	}
	if up := upstream(cand); up != j.cfg.Version {
		return fmt.Errorf("apt offers nvidia-driver %s, the seed asks for %s: set version: %s, or use source: runfile for other versions", cand, j.cfg.Version, up)
	}
	pkgs := append([]string(nil), debPackages...)
	if j.persistenced() {
		pkgs = append(pkgs, "nvidia-persistenced")
	}
	got, err := j.apt.Install(ctx, pkgs...)
	if err != nil {
		return err
	}
	j.changed("installed %s (driver %s)", strings.Join(got, " "), j.cfg.Version)
	return nil
}

var safeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*\.run$`) })

// installRunfile gets the runfile (bundle or download), checks it and runs
// it.
func (j *job) installRunfile(ctx context.Context) error {
	rf := j.cfg.Runfile
	if rf == nil || (rf.URL == "" && rf.File == "") {
		return errors.New("source runfile needs runfile.url or runfile.file")
	}
	file, err := j.fetch(ctx, rf)
	if err != nil {
		return err
	}
	if rf.SHA256 == "" {
		j.res.Notes = append(j.res.Notes, "runfile not verified: the seed gives no runfile.sha256")
	}
	// sh FILE is how NVIDIA documents running it: no exec bit needed.
	args := append(append([]string{file}, RunfileFlags...), rf.Flags...)
	if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "sh", Args: args, Timeout: time.Hour}); err != nil {
		return fmt.Errorf("runfile %s: %w (the installer logs to /var/log/nvidia-installer.log)", filepath.Base(file), err)
	}
	j.changed("installed NVIDIA driver %s from %s", j.cfg.Version, filepath.Base(file))
	return nil
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
	if !strings.HasPrefix(rf.URL, "https://") && !strings.HasPrefix(rf.URL, "http://") {
		return "", fmt.Errorf("runfile.url %q: want an http(s) URL", rf.URL)
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
	if err := j.env.Root.MkdirAll(CacheDir, 0o700, host.Owner{}); err != nil {
		return "", err
	}
	j.env.Say("nvidia 2/3: downloading " + name)
	if err := fetch.Download(ctx, j.env.Runner, rf.URL, final, rf.SHA256); err != nil {
		if mm := (*fetch.MismatchError)(nil); errors.As(err, &mm) {
			return "", refuse(final, mm)
		}
		return "", fmt.Errorf("download runfile: %w", err)
	}
	j.changed("downloaded %s", name)
	return final, nil
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

func (j *job) persistenced() bool { return j.cfg.Persistence == nil || *j.cfg.Persistence }

// verify is phase 3: check the result and record the facts for LXC.
func (j *job) verify(ctx context.Context) (bool, error) {
	j.env.Say("nvidia 3/3: verifying")
	v := j.cfg.Version
	if !loaded(j.env.Root, "nvidia_uvm") {
		// Containers use CUDA through nvidia-uvm; its major exists only
		// once it is loaded.
		if msg, err := j.modprobe(ctx, "nvidia-uvm"); err != nil {
			return false, fmt.Errorf("load nvidia-uvm: %s: %w", msg, err)
		}
	}
	// Without this nvidia-uvm is loaded only on first use: after a reboot
	// /dev/nvidia-uvm would be missing when containers start.
	changed, err := host.WriteIfChanged(j.env.Root, ModulesLoadFile, []byte(modulesLoadConf), 0o644, host.Owner{})
	if err != nil {
		return false, err
	}
	if changed {
		j.changed("wrote %s", ModulesLoadFile)
	}
	if j.cfg.Source == SourceRunfile {
		if err := j.nodes(ctx); err != nil {
			return false, err
		}
	}
	vs, err := smiVersions(ctx, j.env.Runner)
	if err != nil {
		return false, fmt.Errorf("driver %s does not answer: %w", v, err)
	}
	if err := sameVersion(vs, v, len(j.gpus)); err != nil {
		return false, err
	}
	if j.persistenced() && !j.p.Persistenced {
		if err := j.enablePersistenced(ctx); err != nil {
			return false, err
		}
	}
	devs, err := Devices(j.env.Root)
	if err != nil {
		return false, err
	}
	if _, ok := devs["nvidia-uvm"]; !ok || len(devs) < 2 {
		return false, fmt.Errorf("%s lists no nvidia-uvm and nvidia devices (%v) although the modules are loaded", ProcDevices, devs)
	}
	if err := putIfChanged(j.env.Store, KeyDevices, devs); err != nil {
		return false, err
	}
	if err := putIfChanged(j.env.Store, KeyVersion, v); err != nil {
		return false, err
	}
	j.res.Notes = append(j.res.Notes, fmt.Sprintf("driver %s on %d GPU(s); nvidia-uvm major %d", v, len(j.gpus), devs["nvidia-uvm"]))
	// Done: the reboot bookkeeping has served its purpose (the engine's
	// marker keeps the count). What stays is what makes a rerun a no-op.
	j.p.Reboots, j.p.RebootBoot = map[string]int{}, ""
	return false, j.setPhase(PhaseDone)
}

// sameVersion checks that nvidia-smi shows want on each of n GPUs.
func sameVersion(vs []string, want string, n int) error {
	ok := len(vs) == n
	for _, x := range vs {
		ok = ok && x == want
	}
	if !ok {
		return fmt.Errorf("nvidia-smi reports driver %v on %d GPU(s), want %s on %d", vs, len(vs), want, n)
	}
	return nil
}

// nodesFiles are the udev rules and the unit that make the device nodes a
// container's devN entries name. Loading nvidia or nvidia-uvm registers a
// major but creates no /dev node: nvidia-modprobe(1) makes them, and
// NVIDIA's own packages call it from udev (NVIDIA/yum-packaging-nvidia-
// kmod-common 60-nvidia.rules: ACTION=="add|bind", KERNEL=="nvidia",
// RUN+="/usr/bin/nvidia-modprobe"). A runfile install ships nvidia-modprobe
// but no rules, so pct set and every start would die "Device
// /dev/nvidia-uvm does not exist" (pve-container src/PVE/LXC/Tools.pm:
// 157-165). The rules cover a module loaded at any time; the oneshot unit
// orders the nodes before pve-guests.service starts the onboot
// containers, whatever udev's timing.
func nodesFiles(gpus int) (rules, unit string) {
	var c []string
	for i := 0; i < gpus; i++ {
		c = append(c, fmt.Sprintf("-c%d", i))
	}
	// Minor 255 is /dev/nvidiactl, which every container's devN list
	// names: nvidia-modprobe makes only the minors -c asks for
	// (NVIDIA/nvidia-modprobe nvidia-modprobe-utils.h NV_CTL_DEVICE_NUM,
	// assign_device_file_name).
	c = append(c, "-c255")
	create := strings.Join(c, " ")
	rules = "# Written by phoenix (nvidia module): NVIDIA device nodes for containers.\n" +
		"ACTION==\"add\", SUBSYSTEM==\"module\", KERNEL==\"nvidia\", RUN+=\"/usr/bin/nvidia-modprobe " + create + "\"\n" +
		"ACTION==\"add\", SUBSYSTEM==\"module\", KERNEL==\"nvidia_uvm\", RUN+=\"/usr/bin/nvidia-modprobe -c0 -u\"\n" +
		"ACTION==\"add\", SUBSYSTEM==\"module\", KERNEL==\"nvidia_modeset\", RUN+=\"/usr/bin/nvidia-modprobe -m\"\n"
	unit = "# Written by phoenix (nvidia module).\n[Unit]\nDescription=NVIDIA device nodes for containers\n" +
		"After=systemd-modules-load.service systemd-udevd.service\nBefore=pve-guests.service\n\n" +
		"[Service]\nType=oneshot\nRemainAfterExit=yes\n" +
		"ExecStart=/usr/bin/nvidia-modprobe " + create + "\n" +
		"ExecStart=/usr/bin/nvidia-modprobe -c0 -u\n" +
		"ExecStart=/usr/bin/nvidia-modprobe -m\n\n" +
		"[Install]\nWantedBy=multi-user.target\n"
	return rules, unit
}

// nodes writes nodesFiles and enables the unit.
func (j *job) nodes(ctx context.Context) error {
	rules, unit := nodesFiles(max(len(j.gpus), 1))
	changedRules, err := host.WriteIfChanged(j.env.Root, NodesRules, []byte(rules), 0o644, host.Owner{})
	if err != nil {
		return err
	}
	if changedRules {
		j.changed("wrote %s", NodesRules)
	}
	changedUnit, err := host.WriteIfChanged(j.env.Root, NodesUnit, []byte(unit), 0o644, host.Owner{})
	if err != nil {
		return err
	}
	if changedUnit {
		j.changed("wrote %s", NodesUnit)
	}
	// The store records the unit once it is enabled, so a run that
	// stopped between the write and the enable enables it next time.
	var enabled string
	if _, err := j.env.Store.Get(KeyNodes, &enabled); err != nil {
		return err
	}
	if !changedUnit && enabled == unit {
		return nil
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", path.Base(NodesUnit)}} {
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: args}); err != nil {
			return fmt.Errorf("device node unit: %w", err)
		}
	}
	if err := j.env.Store.Put(KeyNodes, unit); err != nil {
		return err
	}
	j.changed("enabled %s", path.Base(NodesUnit))
	return nil
}

func (j *job) enablePersistenced(ctx context.Context) error {
	if j.cfg.Source == SourcePackages {
		// Installed with the driver, unless persistenced was off then.
		got, err := j.apt.Install(ctx, "nvidia-persistenced")
		if err != nil {
			return err
		}
		if len(got) > 0 {
			j.changed("installed nvidia-persistenced")
		}
	}
	found := false
	for _, d := range unitDirs {
		found = found || host.Exists(j.env.Root, path.Join(d, "nvidia-persistenced.service"))
	}
	if !found {
		if j.cfg.Source != SourceRunfile {
			return errors.New("nvidia-persistenced.service is missing although the nvidia-persistenced package is installed")
		}
		if err := j.env.Root.WriteFile(PersistencedUnit, []byte(persistencedUnit), 0o644, host.Owner{}); err != nil {
			return err
		}
		j.changed("wrote %s", PersistencedUnit)
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"daemon-reload"}}); err != nil {
			return err
		}
	}
	if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"enable", "--now", "nvidia-persistenced.service"}}); err != nil {
		return fmt.Errorf("enable nvidia-persistenced: %w", err)
	}
	j.changed("enabled nvidia-persistenced")
	j.p.Persistenced = true
	return j.save()
}

// putIfChanged writes key only when its value differs, so a rerun writes
// nothing.
func putIfChanged(s *modules.Store, key string, v any) error {
	want, _ := json.Marshal(v)
	var old json.RawMessage
	if found, err := s.Get(key, &old); err == nil && found {
		var a, b any
		if json.Unmarshal(old, &a) == nil && json.Unmarshal(want, &b) == nil && fmt.Sprint(a) == fmt.Sprint(b) {
			return nil
		}
	}
	if err := s.Put(key, v); err != nil {
		return err
	}
	return nil
}
