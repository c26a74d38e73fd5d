package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// Paths the module reads and writes (in-root).
const (
	BootUUIDs     = "/etc/kernel/proxmox-boot-uuids"
	KernelCmdline = "/etc/kernel/cmdline"
	GrubDefault   = "/etc/default/grub"
	GrubDropIn    = "/etc/default/grub.d/phoenix.cfg"
	ModulesLoad   = "/etc/modules-load.d/phoenix.conf"
	Modprobe      = "/etc/modprobe.d/phoenix.conf"
	ProcCmdline   = "/proc/cmdline"
	SysModule     = "/sys/module"
	// EFIDir exists when the running system was booted through UEFI; the
	// boot tools test the same directory (zz-proxmox-boot:84,111).
	EFIDir = "/sys/firmware/efi"
	// SecureBootVar is the UEFI global variable SecureBoot in efivarfs.
	SecureBootVar = EFIDir + "/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

	pendingKey = "kernel/pending"  // tools still to run for a written change
	rebootKey  = "kernel/rebooted" // the change we rebooted for, and when
	argsKey    = "kernel/cmdline"  // the arguments Phoenix manages in /etc/kernel/cmdline
)

// Boot loaders, as DetectLoader names them.
const (
	// SystemdBoot: proxmox-boot-tool ESPs on a UEFI host without Secure
	// Boot. systemd-boot reads /etc/kernel/cmdline, which `proxmox-boot-tool
	// refresh` copies into every loader entry.
	SystemdBoot = "systemd-boot (proxmox-boot-tool)"
	// GrubESP: proxmox-boot-tool ESPs booted by GRUB: a legacy-BIOS host
	// (ZFS root) or a Secure Boot host. Refresh runs update-grub for each
	// ESP, which reads /etc/default/grub and grub.d, never /etc/kernel/cmdline.
	GrubESP = "grub (proxmox-boot-tool)"
	// Grub: plain GRUB (ext4/xfs/LVM root): update-grub.
	Grub = "grub"
)

// Module is the kernel module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the kernel module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "kernel" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.Kernel != nil }

// pending is a written change whose tools have not run yet.
type pending struct {
	Digest    string `json:"digest"`
	Cmdline   bool   `json:"cmdline"`
	Initramfs bool   `json:"initramfs"`
}

// rebooted is the change Phoenix asked a reboot for.
type rebooted struct {
	Digest string `json:"digest"`
	BootID string `json:"boot_id"`
}

type plan struct {
	loader    string
	why       string     // how the loader was detected, for notes
	cmdline   files.Plan // boot loader files
	initramfs files.Plan // modprobe.d and modules-load.d
	args      []string
	digest    string
}

// DetectLoader says how the host boots, as proxmox-boot-tool decides it
// (proxmox-kernel-helper src/proxmox-boot/zz-proxmox-boot:81-121, read from
// the jiangcuo/proxmox-kernel-helper fork at 7007b33): without
// /etc/kernel/proxmox-boot-uuids it is plain GRUB. With it, each listed ESP
// is booted by GRUB when the host is not UEFI (no /sys/firmware/efi) or the
// ESP carries EFI/proxmox/grubx64.efi, else by systemd-boot. The installer
// puts GRUB on the ESP exactly when Secure Boot is on (pve-installer
// Proxmox/Install.pm:630-639, `proxmox-boot-tool init ESP grub`), and
// pve-docs system-booting.adoc:33-37 says the same: legacy BIOS and Secure
// Boot use GRUB, UEFI without Secure Boot systemd-boot. The ESPs are not
// mounted in normal operation (system-booting.adoc:62-65), so Phoenix
// reads Secure Boot rather than mounting them; an ESP switched to GRUB
// while Secure Boot is off cannot be told apart, which is why the
// systemd-boot case also writes the GRUB drop-in (see plan). why says what
// decided it.
func DetectLoader(r host.Root) (loader, why string) {
	if !host.Exists(r, BootUUIDs) {
		if host.Exists(r, GrubDefault) {
			return Grub, "no " + BootUUIDs + ", " + GrubDefault + " present"
		}
		return "", ""
	}
	switch {
	case !host.Exists(r, EFIDir):
		return GrubESP, BootUUIDs + " and a legacy BIOS boot (no " + EFIDir + ")"
	case SecureBoot(r):
		return GrubESP, BootUUIDs + " and Secure Boot on"
	}
	return SystemdBoot, BootUUIDs + ", UEFI, Secure Boot off"
}

// SecureBoot reports whether the firmware enforces Secure Boot: efivarfs
// files start with the variable's 4 attribute bytes, then its data, and
// SecureBoot's data is one byte, 1 when on (kernel
// Documentation/filesystems/efivarfs.rst; UEFI spec, globally defined
// variables). A missing variable is off, as mokutil --sb-state reports it.
func SecureBoot(r host.Root) bool {
	b, err := r.ReadFile(SecureBootVar)
	return err == nil && len(b) >= 5 && b[4] == 1
}

// grubDropIn is the plan for the GRUB drop-in with args (absent without).
func grubDropIn(args []string) files.File {
	f := files.File{Path: GrubDropIn, Absent: true, Why: "no kernel arguments"}
	if len(args) > 0 {
		f = files.File{Path: GrubDropIn, Mode: 0o644, Why: "kernel arguments " + strings.Join(args, " "),
			Data: []byte("# Managed by phoenix (seed kernel.cmdline); edits are overwritten.\nGRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT " + strings.Join(args, " ") + "\"\n")}
	}
	return f
}

// stripInitrd drops the initrd= tokens the loader adds to /proc/cmdline,
// as zz-proxmox-boot:55-57 does when /etc/kernel/cmdline is missing.
func stripInitrd(tokens []string) []string {
	var out []string
	for _, t := range tokens {
		if !strings.HasPrefix(t, "initrd=") {
			out = append(out, t)
		}
	}
	return out
}

func (m *Module) plan(env *modules.Env) (*plan, error) {
	k := env.Seed.Kernel
	p := &plan{args: k.Cmdline}
	p.loader, p.why = DetectLoader(env.Root)
	for _, a := range k.Cmdline {
		if !seed.IsKernelArg(a) {
			return nil, fmt.Errorf("cmdline argument %q: only letters, digits and _.,:=/+@- are allowed", a)
		}
	}
	for _, list := range [][]string{k.Modules, k.Blacklist} {
		for _, n := range list {
			if !seed.IsModuleName(n) {
				return nil, fmt.Errorf("%q is not a module name", n)
			}
		}
	}
	for n, o := range k.Options {
		if !seed.IsModuleName(n) || !seed.IsModuleOptions(o) {
			return nil, fmt.Errorf("options %s %q: not a module name and options", n, o)
		}
	}

	switch {
	case p.loader == SystemdBoot:
		var managed []string
		if _, err := env.Store.Get(argsKey, &managed); err != nil {
			return nil, err
		}
		old, err := env.Root.ReadFile(KernelCmdline)
		missing := errors.Is(err, fs.ErrNotExist)
		if missing && len(k.Cmdline) == 0 && len(managed) == 0 {
			p.cmdline = files.Plan{grubDropIn(nil)}
			break // nothing to set, nothing to remove
		}
		if err != nil && !missing {
			return nil, fmt.Errorf("%s: %w", KernelCmdline, err)
		}
		cur := strings.Fields(string(old))
		if missing {
			// Refresh would use the running command line without its
			// initrd= (zz-proxmox-boot:54-57): start the file from that.
			b, err := env.Root.ReadFile(ProcCmdline)
			if err != nil {
				return nil, fmt.Errorf("no %s and %s unreadable: %w", KernelCmdline, ProcCmdline, err)
			}
			cur = stripInitrd(strings.Fields(string(b)))
		}
		data := old
		line := mergeArgs(cur, managed, k.Cmdline)
		if missing || line != strings.Join(cur, " ") {
			data = []byte(line + "\n")
		}
		if !slices.ContainsFunc(strings.Fields(line), func(t string) bool { return strings.HasPrefix(t, "root=") }) {
			// refresh exits 1 on such a file (zz-proxmox-boot:52-53).
			return nil, fmt.Errorf("%s would have no root= argument (%q): proxmox-boot-tool refresh refuses that; add the root= of this host to it first", KernelCmdline, line)
		}
		mode := fs.FileMode(0o644)
		if fi, err := env.Root.Stat(KernelCmdline); err == nil {
			mode = fi.Mode().Perm()
		}
		p.cmdline = files.Plan{{Path: KernelCmdline, Data: data, Mode: mode, Why: "kernel arguments " + strings.Join(k.Cmdline, " ")},
			// An ESP may carry GRUB (grubx64.efi) with Secure Boot off
			// (switched by hand: system-booting.adoc:400-480), which
			// Phoenix cannot see without mounting it; refresh then runs
			// update-grub for it, which reads the drop-in.
			grubDropIn(k.Cmdline)}
	case p.loader == GrubESP, p.loader == Grub:
		p.cmdline = files.Plan{grubDropIn(k.Cmdline)}
	case len(k.Cmdline) > 0:
		return nil, fmt.Errorf("cannot set kernel arguments: neither %s (proxmox-boot-tool) nor %s (GRUB) exists", BootUUIDs, GrubDefault)
	}

	load := files.File{Path: ModulesLoad, Absent: true, Why: "no modules to load"}
	if len(k.Modules) > 0 {
		load = files.File{Path: ModulesLoad, Mode: 0o644, Why: "load " + strings.Join(k.Modules, " "),
			Data: []byte("# Managed by phoenix (seed kernel.modules); edits are overwritten.\n" + strings.Join(k.Modules, "\n") + "\n")}
	}
	probe := files.File{Path: Modprobe, Absent: true, Why: "no blacklist or options"}
	if conf := modprobeConf(k); conf != nil {
		probe = files.File{Path: Modprobe, Mode: 0o644, Why: "blacklist/options", Data: conf}
	}
	p.initramfs = files.Plan{load, probe}

	h := sha256.New()
	for _, f := range append(append(files.Plan{}, p.cmdline...), p.initramfs...) {
		fmt.Fprintf(h, "%s\x00%t\x00%s\x00", f.Path, f.Absent, f.Data)
	}
	fmt.Fprintf(h, "%s\x00", strings.Join(k.Cmdline, " "))
	p.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return p, nil
}

// modprobeConf is /etc/modprobe.d/phoenix.conf for the seed's blacklist
// and options, nil when it has neither.
func modprobeConf(k *seed.Kernel) []byte {
	var b strings.Builder
	for _, n := range k.Blacklist {
		b.WriteString("blacklist " + n + "\n")
	}
	names := make([]string, 0, len(k.Options))
	for n := range k.Options {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString("options " + n + " " + k.Options[n] + "\n")
	}
	if b.Len() == 0 {
		return nil
	}
	return []byte("# Managed by phoenix (seed kernel.blacklist, kernel.options); edits are overwritten.\n" + b.String())
}

// mergeArgs is the kernel command line with the seed's arguments: tokens
// Phoenix added before and the seed no longer has are dropped, a seed
// argument replaces a token with the same key (intel_iommu=off becomes
// intel_iommu=on), and missing ones are appended. The admin's own tokens
// (root=ZFS=..., boot=zfs) stay in place.
func mergeArgs(cur, managed, want []string) string {
	wanted := map[string]bool{}
	keys := map[string]string{}
	for _, a := range want {
		wanted[a] = true
		keys[argKey(a)] = a
	}
	stale := map[string]bool{}
	for _, a := range managed {
		if !wanted[a] {
			stale[a] = true
		}
	}
	var out []string
	have := map[string]bool{}
	for _, t := range cur {
		if stale[t] {
			continue
		}
		if w, ok := keys[argKey(t)]; ok && strings.Contains(t, "=") {
			t = w
		}
		if have[t] {
			continue
		}
		have[t] = true
		out = append(out, t)
	}
	for _, a := range want {
		if !have[a] {
			have[a] = true
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}

func argKey(a string) string {
	k, _, _ := strings.Cut(a, "=")
	return k
}

// verify lists what of the plan is not in effect in the running kernel.
func (m *Module) verify(env *modules.Env) []string {
	k := env.Seed.Kernel
	var out []string
	if len(k.Cmdline) > 0 {
		b, err := env.Root.ReadFile(ProcCmdline)
		if err != nil {
			out = append(out, "cannot read "+ProcCmdline)
		}
		have := map[string]bool{}
		for _, t := range strings.Fields(string(b)) {
			have[t] = true
		}
		for _, a := range k.Cmdline {
			if !have[a] {
				out = append(out, "argument "+a+" missing from "+ProcCmdline)
			}
		}
	}
	for _, n := range k.Modules {
		if !loaded(env.Root, n) {
			out = append(out, "module "+n+" not loaded ("+sysPath(n)+" missing)")
		}
	}
	for _, n := range k.Blacklist {
		if loaded(env.Root, n) {
			out = append(out, "blacklisted module "+n+" is loaded")
		}
	}
	names := make([]string, 0, len(k.Options))
	for n := range k.Options {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, optionsOff(env.Root, n, k.Options[n])...)
	}
	return out
}

// optionsOff lists the options of a loaded module whose value in
// /sys/module/<m>/parameters differs. Options of a module that is not
// loaded (nouveau, blacklisted) cannot be checked and are skipped; so are
// parameters the module does not expose.
func optionsOff(r host.Root, mod, opts string) []string {
	if !loaded(r, mod) {
		return nil
	}
	var out []string
	for _, o := range strings.Fields(opts) {
		k, want, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		b, err := r.ReadFile(path.Join(sysPath(mod), "parameters", k))
		if err != nil {
			continue
		}
		have := strings.TrimSpace(string(b))
		if !sameParam(have, want) {
			out = append(out, fmt.Sprintf("option %s %s is %s (%s)", mod, o, have, path.Join(sysPath(mod), "parameters", k)))
		}
	}
	return out
}

// sameParam compares a parameter as sysfs shows it with the seed's value;
// booleans show as Y/N.
func sameParam(have, want string) bool {
	if have == want {
		return true
	}
	yes := map[string]bool{"Y": true, "y": true, "1": true, "on": true, "yes": true, "true": true}
	no := map[string]bool{"N": true, "n": true, "0": true, "off": true, "no": true, "false": true}
	return (yes[have] && yes[want]) || (no[have] && no[want])
}

// sysPath is where a loaded module shows: sysfs names use '_' for '-'.
func sysPath(n string) string { return path.Join(SysModule, strings.ReplaceAll(n, "-", "_")) }

func loaded(r host.Root, n string) bool { return host.Exists(r, sysPath(n)) }

// Converge implements modules.Module: the files, then the boot loader and
// initramfs updates they need (recorded in the Store first, so a crash in
// between finishes them on the next run), then one reboot to activate.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	p, err := m.plan(env)
	if err != nil {
		return err
	}
	cmdPending, err := p.cmdline.Pending(env.Root)
	if err != nil {
		return err
	}
	initPending, err := p.initramfs.Pending(env.Root)
	if err != nil {
		return err
	}
	var pend pending
	found, err := env.Store.Get(pendingKey, &pend)
	if err != nil {
		return err
	}
	if len(cmdPending) == 0 && len(initPending) == 0 && !found {
		// Files are in place: is the change live?
		done, err := m.live(s, p)
		if err != nil || done {
			return err
		}
		// The files were there before Phoenix (or its record is gone):
		// refresh both to be sure, then reboot once.
		pend = pending{Cmdline: len(p.cmdline) > 0, Initramfs: true}
	}
	pend.Digest = p.digest
	pend.Cmdline = pend.Cmdline || len(cmdPending) > 0
	pend.Initramfs = pend.Initramfs || len(initPending) > 0
	if !s.Dry {
		if p.loader == SystemdBoot && len(cmdPending) > 0 {
			// Remember the arguments Phoenix manages in the shared file, so
			// that dropping one from the seed removes it later.
			if err := env.Store.Put(argsKey, p.args); err != nil {
				return err
			}
		}
		if err := env.Store.Put(pendingKey, pend); err != nil {
			return err
		}
	}
	if _, err := append(append(files.Plan{}, p.cmdline...), p.initramfs...).Converge(s); err != nil {
		return err
	}
	if found {
		_ = s.DoQuiet("boot loader / initramfs update of an interrupted run", nil)
	}
	if s.Dry {
		return nil
	}
	return m.refresh(ctx, s, p, pend)
}

// live handles files already in place: done when the change is in effect
// or its reboot is asked for (again); an error when the reboot for it
// happened and it still is not in effect. Otherwise (the files were there
// before Phoenix) the caller refreshes both and reboots once.
func (m *Module) live(s *modules.Steps, p *plan) (bool, error) {
	env := s.Env
	missing := m.verify(env)
	if len(missing) == 0 {
		return true, nil
	}
	var rb rebooted
	if _, err := env.Store.Get(rebootKey, &rb); err != nil {
		return false, err
	}
	if rb.Digest == p.digest && rb.BootID != env.BootID {
		if s.Dry {
			return true, s.DoQuiet("not in effect after the reboot: "+strings.Join(missing, "; "), nil)
		}
		return false, fmt.Errorf("rebooted for this change (boot %s) but it did not take effect: %s; not rebooting again", rb.BootID, strings.Join(missing, "; "))
	}
	_ = s.DoQuiet("reboot to activate: "+strings.Join(missing, "; "), nil)
	if rb.Digest == p.digest {
		// Asked for the reboot, which has not happened yet.
		s.RebootFor("kernel: activate " + strings.Join(missing, "; "))
		return true, nil
	}
	return false, nil
}

// refresh runs the tools that put the written files into effect at the
// next boot, records the reboot and asks for it (Apply only).
func (m *Module) refresh(ctx context.Context, s *modules.Steps, p *plan, pend pending) error {
	env := s.Env
	run := func(name string, args ...string) error {
		s.Say("kernel: " + name + " " + strings.Join(args, " "))
		_, err := env.Runner.Run(ctx, host.Cmd{Name: name, Args: args, Timeout: 30 * time.Minute})
		return err
	}
	if pend.Initramfs {
		if err := run("update-initramfs", "-u", "-k", "all"); err != nil {
			return err
		}
	}
	s.Note("boot loader: %s (%s)", p.loader, p.why)
	switch {
	case (p.loader == SystemdBoot || p.loader == GrubESP) && (pend.Cmdline || pend.Initramfs):
		// Copies kernels and initrds to every ESP and configures its
		// loader: the systemd-boot entries from /etc/kernel/cmdline, or
		// update-grub for a GRUB ESP (zz-proxmox-boot:98-121).
		if err := run("proxmox-boot-tool", "refresh"); err != nil {
			return err
		}
	case p.loader == Grub && pend.Cmdline:
		if err := run("update-grub"); err != nil {
			return err
		}
	}
	if err := env.Store.Put(rebootKey, rebooted{Digest: p.digest, BootID: env.BootID}); err != nil {
		return err
	}
	if err := env.Store.Delete(pendingKey); err != nil {
		return err
	}
	s.RebootFor("kernel: boot with the new command line and modules")
	return nil
}
