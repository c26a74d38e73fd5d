package nvidia

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// blacklistConf keeps nouveau off the GPUs, also in the initramfs.
const blacklistConf = "# Written by phoenix (nvidia module): the NVIDIA driver needs the GPUs.\nblacklist nouveau\noptions nouveau modeset=0\n"

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

// prepare is phase 1: build prerequisites and nouveau out of the way.
func (j *job) prepare(ctx context.Context) (bool, error) {
	j.s.Say("nvidia 1/3: kernel headers, build tools, nouveau blacklist")
	hdr, err := j.pick(ctx, headerCandidates(j.kernel))
	if err != nil {
		return false, err
	}
	if hdr == "" {
		return false, fmt.Errorf("no kernel headers for the running kernel %s in apt (tried %s): enable the Proxmox repository and run apt update, or boot a kernel that has headers",
			j.kernel, strings.Join(headerCandidates(j.kernel), ", "))
	}
	pkgs := []string{hdr, "build-essential", "dkms"}
	switch meta, err := j.pick(ctx, MetaHeaders); {
	case err != nil:
		return false, err
	case meta == "":
		j.s.Note("no kernel headers meta package in apt (tried %s): DKMS cannot rebuild the driver for the next kernel; install one before upgrading the kernel", strings.Join(MetaHeaders, ", "))
	default:
		pkgs = append(pkgs, meta)
	}
	if err := j.installMissing(ctx, pkgs...); err != nil {
		return false, fmt.Errorf("prerequisites: %w", err)
	}
	if b, err := j.env.Root.ReadFile(BlacklistFile); err != nil || string(b) != blacklistConf {
		// Forget the rebuilt initramfs first: a crash between the write
		// and update-initramfs must not leave a record saying it is done.
		j.p.Initramfs = ""
		err := j.do(func() error {
			if err := j.save(); err != nil {
				return err
			}
			if _, err := host.WriteIfChanged(j.env.Root, BlacklistFile, []byte(blacklistConf), 0o644, host.Owner{}); err != nil {
				return fmt.Errorf("blacklist nouveau: %w", err)
			}
			return nil
		}, "blacklist nouveau in %s", BlacklistFile)
		if err != nil {
			return false, err
		}
	}
	// The digest is recorded after update-initramfs succeeded, so a crash
	// in between rebuilds it again rather than never.
	if d := sum([]byte(blacklistConf)); j.p.Initramfs != d {
		err := j.do(func() error {
			if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "update-initramfs", Args: []string{"-u"}, Timeout: 15 * time.Minute}); err != nil {
				return fmt.Errorf("rebuild initramfs: %w", err)
			}
			j.p.Initramfs = d
			return j.save()
		}, "rebuild the initramfs without nouveau")
		if err != nil {
			return false, err
		}
	}
	if loaded(j.env.Root, "nouveau") {
		return j.reboot(PhasePrepare, "nouveau is loaded; it is blacklisted now and goes away with a reboot",
			"nouveau is still loaded after the reboot that should have unloaded it ("+BlacklistFile+" and the initramfs blacklist it); check the kernel command line and /etc/modprobe.d for something that loads it")
	}
	return false, j.setPhase(PhaseInstall)
}

// installMissing installs the missing ones of pkgs, as one change.
func (j *job) installMissing(ctx context.Context, pkgs ...string) error {
	miss, err := j.apt.Missing(ctx, pkgs...)
	miss = slices.DeleteFunc(miss, func(p string) bool { return slices.Contains(j.brought, p) })
	if err != nil || len(miss) == 0 {
		return err
	}
	j.brought = append(j.brought, miss...)
	return j.do(func() error {
		_, err := j.apt.Install(ctx, miss...)
		return err
	}, "install %s", strings.Join(miss, " "))
}

// pick returns the first of cands that is installed, else the first apt
// can install; "" when apt has none.
func (j *job) pick(ctx context.Context, cands []string) (string, error) {
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
	return "", nil
}

// headerCandidates are the names Proxmox and Debian give the headers of
// kernel.
func headerCandidates(kernel string) []string {
	return []string{"proxmox-headers-" + kernel, "pve-headers-" + kernel, "linux-headers-" + kernel}
}
