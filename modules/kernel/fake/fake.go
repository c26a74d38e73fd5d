// Package fake simulates what the kernel module acts on: the boot loader
// (proxmox-boot-tool refresh, update-grub), the initramfs
// (update-initramfs) and a boot that reads them. The loader follows
// proxmox-boot-tool's rule (proxmox-kernel-helper
// src/proxmox-boot/zz-proxmox-boot:81-121, jiangcuo fork at 7007b33): with
// /etc/kernel/proxmox-boot-uuids, an ESP is booted by GRUB on a legacy-BIOS
// host (no /sys/firmware/efi in the root) or when it carries
// EFI/proxmox/grubx64.efi (Machine.ESPGrub), and GRUB then reads
// /etc/default/grub and grub.d only; otherwise systemd-boot boots the
// entries refresh wrote from /etc/kernel/cmdline, which must hold root=
// (:49-53), or from /proc/cmdline without initrd= when it is missing
// (:54-57). Without proxmox-boot-uuids it is plain GRUB. Boot writes /proc/cmdline
// and /sys/module/<name> into the root the way a real boot would leave
// them, from what the tools last installed, not from the files: a change
// whose tool never ran does not take effect, as on real hardware.
package fake

import (
	"context"
	"os/exec"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// Machine is the fake boot chain of one host.
type Machine struct {
	Root host.Root
	// Hardware are modules udev loads for the devices present (nouveau
	// for an NVIDIA card) unless the initramfs blacklists them.
	Hardware []string
	// Broken are modules that fail to load (missing firmware, wrong
	// kernel): listed in modules-load.d, they still do not show.
	Broken map[string]bool
	// ESPGrub: the ESPs carry EFI/proxmox/grubx64.efi (initialised with
	// `proxmox-boot-tool init ESP grub`, as the installer does with Secure
	// Boot on: pve-installer Proxmox/Install.pm:630-639).
	ESPGrub bool

	mu        sync.Mutex
	loader    string // the command line the boot loader passes
	blacklist map[string]bool
	// Refreshes, Grubs and Initramfs count tool runs.
	Refreshes, Grubs, Initramfs int
}

// Image is the kernel the fake boots.
const Image = "6.8.12-4-pve"

// New returns a machine booted once from the root's current configuration
// (the tools are assumed to have run at install time).
func New(root host.Root, hardware ...string) *Machine {
	m := &Machine{Root: root, Hardware: hardware, Broken: map[string]bool{}}
	m.installLoader()
	m.installInitramfs()
	m.Boot()
	return m
}

// Register installs the tool handlers on r.
func (m *Machine) Register(r *fakehost.Runner) {
	r.Handle("update-initramfs", m.updateInitramfs)
	r.Handle("proxmox-boot-tool", m.bootTool)
	r.Handle("update-grub", m.updateGrub)
}

func (m *Machine) updateInitramfs(_ context.Context, c fakehost.Call) fakehost.Result {
	if strings.Join(c.Cmd.Args, " ") != "-u -k all" {
		return fakehost.Fail(1, "fake update-initramfs: expected -u -k all\n")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Initramfs++
	m.installInitramfs()
	return fakehost.OK("update-initramfs: Generating /boot/initrd.img-" + Image + "\n")
}

func (m *Machine) bootTool(_ context.Context, c fakehost.Call) fakehost.Result {
	if len(c.Cmd.Args) != 1 || c.Cmd.Args[0] != "refresh" {
		return fakehost.Fail(2, "fake proxmox-boot-tool: only refresh\n")
	}
	if !host.Exists(m.Root, "/etc/kernel/proxmox-boot-uuids") {
		return fakehost.Fail(2, "E: /etc/kernel/proxmox-boot-uuids does not exist.\n")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Refreshes++
	if err := m.installLoader(); err != "" {
		return fakehost.Fail(1, "Running hook script 'proxmox-auto-removal'..\n"+err)
	}
	return fakehost.OK("Running hook script 'proxmox-auto-removal'..\nRefreshing kernels and initrds\n")
}

func (m *Machine) updateGrub(_ context.Context, c fakehost.Call) fakehost.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Grubs++
	if host.Exists(m.Root, "/etc/kernel/proxmox-boot-uuids") {
		// "Systems using proxmox-boot-tool will call proxmox-boot-tool
		// refresh upon update-grub" (pve-docs system-booting.adoc:240-242).
		if err := m.installLoader(); err != "" {
			return fakehost.Fail(1, err)
		}
		return fakehost.OK("")
	}
	if err := m.installGrub(); err != "" {
		return fakehost.Fail(1, err)
	}
	return fakehost.OK("")
}

// GrubBoots reports whether the loader is GRUB (plain, or on the ESPs).
func (m *Machine) GrubBoots() bool {
	if !host.Exists(m.Root, "/etc/kernel/proxmox-boot-uuids") {
		return true
	}
	return !host.Exists(m.Root, "/sys/firmware/efi") || m.ESPGrub
}

// installLoader configures the loader the next boot uses, as refresh does;
// it returns the error refresh would print.
func (m *Machine) installLoader() string {
	if m.GrubBoots() {
		return m.installGrub()
	}
	b, err := m.Root.ReadFile("/etc/kernel/cmdline")
	line := strings.TrimSpace(string(b))
	if err != nil {
		proc, _ := m.Root.ReadFile("/proc/cmdline")
		var keep []string
		for _, t := range strings.Fields(string(proc)) {
			if !strings.HasPrefix(t, "initrd=") {
				keep = append(keep, t)
			}
		}
		line = strings.Join(keep, " ")
	} else if !strings.Contains(line, "root=") {
		return "No root= parameter in /etc/kernel/cmdline found!\n"
	}
	m.loader = `initrd=\EFI\proxmox\` + Image + `\initrd.img-` + Image + " " + line
	return ""
}

// installGrub evaluates /etc/default/grub and grub.d/*.cfg with the real
// sh, as grub-mkconfig does, so a drop-in with broken shell syntax fails
// here as it would there.
func (m *Machine) installGrub() string {
	dir := m.Root.Path("/etc/default")
	script := `. ./grub || exit 1
for f in ./grub.d/*.cfg; do [ -e "$f" ] || continue; . "$f" || exit 1; done
printf '%s %s' "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"`
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "grub-mkconfig: /etc/default/grub: " + string(out)
	}
	m.loader = "BOOT_IMAGE=/boot/vmlinuz-" + Image + " root=/dev/mapper/pve-root ro " + strings.Join(strings.Fields(string(out)), " ")
	return ""
}

// installInitramfs records the blacklists the new initramfs carries.
func (m *Machine) installInitramfs() {
	m.blacklist = map[string]bool{}
	for _, l := range confLines(m.Root, "/etc/modprobe.d") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "blacklist" {
			m.blacklist[f[1]] = true
		}
	}
}

// Boot simulates a reboot: /proc/cmdline from the loader, /sys/module from
// the hardware, the initramfs blacklist and modules-load.d.
func (m *Machine) Boot() {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.Root.WriteFile("/proc/cmdline", []byte(m.loader+"\n"), 0o444, host.Owner{})
	if ents, err := m.Root.ReadDir("/sys/module"); err == nil {
		for _, e := range ents {
			_ = m.Root.Remove(path.Join("/sys/module", e.Name()))
		}
	}
	load := map[string]bool{}
	for _, h := range m.Hardware {
		if !m.blacklist[h] {
			load[h] = true
		}
	}
	for _, l := range confLines(m.Root, "/etc/modules-load.d") {
		load[l] = true
	}
	for n := range load {
		if !m.Broken[n] {
			_ = m.Root.MkdirAll(path.Join("/sys/module", strings.ReplaceAll(n, "-", "_")), 0o755, host.Owner{})
		}
	}
}

// Loaded lists the loaded modules, sorted.
func (m *Machine) Loaded() []string {
	ents, _ := m.Root.ReadDir("/sys/module")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// confLines are the non-comment lines of dir/*.conf.
func confLines(r host.Root, dir string) []string {
	ents, _ := r.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		b, _ := r.ReadFile(path.Join(dir, e.Name()))
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}
