package fake

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// State is everything the fake host knows. It is saved as state.json in the
// state directory after every command.
type State struct {
	// Kernel is the running kernel release (uname -r).
	Kernel string `json:"kernel"`
	// Boots counts boots; the boot id is derived from it.
	Boots int `json:"boots"`
	// GPUs are the PCI display devices of the machine.
	GPUs []GPU `json:"gpus"`
	// SecureBoot is what mokutil --sb-state reports.
	SecureBoot bool `json:"secure_boot"`
	// Available is the apt archive: package -> candidate version.
	Available map[string]string `json:"available"`
	// Installed is dpkg's database: package -> version.
	Installed map[string]string `json:"installed"`
	// Downloads is what curl can fetch: URL -> driver version of the fake
	// runfile served there.
	Downloads map[string]string `json:"downloads,omitempty"`
	// Driver is the installed userspace driver, nil when none.
	Driver *Driver `json:"driver,omitempty"`
	// DKMS is the DKMS tree.
	DKMS []DKMS `json:"dkms,omitempty"`
	// Loaded are the loaded kernel modules (underscore names) -> version
	// ("" for modules without one).
	Loaded map[string]string `json:"loaded"`
	// Initramfs lists the modules blacklisted in the current initramfs
	// (snapshot of /etc/modprobe.d taken by update-initramfs).
	Initramfs []string `json:"initramfs_blacklist,omitempty"`
	// Enabled are systemd units enabled with systemctl enable.
	Enabled []string `json:"enabled,omitempty"`

	// Knobs for failure modes.

	// LoadNeedsReboot: a module installed during this boot cannot be
	// inserted live ("Device or resource busy": the console framebuffer
	// holds the GPU); it loads at the next boot.
	LoadNeedsReboot bool `json:"load_needs_reboot,omitempty"`
	// Broken: the nvidia module never loads.
	Broken bool `json:"broken,omitempty"`
	// InUse: the loaded nvidia module is held (modprobe -r fails).
	InUse bool `json:"in_use,omitempty"`
	// UVMMajor is the dynamic major the kernel hands nvidia-uvm (default 508).
	UVMMajor int `json:"uvm_major,omitempty"`
	// CapsMajor is the dynamic major of nvidia-caps (default 509).
	CapsMajor int `json:"caps_major,omitempty"`
	// NextKernel, when set, is the kernel the next Boot runs (installed
	// by UpgradeKernel).
	NextKernel string `json:"next_kernel,omitempty"`
}

// GPU is one PCI function.
type GPU struct {
	Addr   string `json:"addr"`   // 0000:01:00.0
	Vendor string `json:"vendor"` // 0x10de
	Class  string `json:"class"`  // 0x030000
	// Driver, when set, is the kernel driver bound to the device (e.g.
	// vfio-pci for a GPU passed through to a VM).
	Driver string `json:"driver,omitempty"`
}

// Driver is an installed NVIDIA driver.
type Driver struct {
	Version string `json:"version"`
	Method  string `json:"method"`    // runfile or packages
	Module  string `json:"module"`    // DKMS module name: nvidia (runfile) or nvidia-current (Debian)
	Boot    int    `json:"boot"`      // boot during which it was installed
	Kernel  string `json:"built_for"` // kernel the module was built for at install time
}

// DKMS is one entry of the DKMS tree.
type DKMS struct {
	Module  string `json:"module"`
	Version string `json:"version"`
	Kernel  string `json:"kernel"`
	State   string `json:"state"` // added, built, installed
}

// NewState is a Proxmox host running kernel with n NVIDIA GPUs (nouveau
// loaded, as after a fresh install) and an archive offering proxmox headers,
// build tools, dkms and the Debian driver packages at debVersion (e.g.
// "535.247.01-1~deb12u1").
func NewState(kernel string, n int, debVersion string) *State {
	s := &State{
		Kernel:    kernel,
		Boots:     1,
		Available: map[string]string{},
		Installed: map[string]string{},
		Loaded:    map[string]string{},
	}
	for i := 0; i < n; i++ {
		s.GPUs = append(s.GPUs, GPU{Addr: fmt.Sprintf("0000:%02x:00.0", i+1), Vendor: "0x10de", Class: "0x030000"})
		// Every NVIDIA card also has an HDMI audio function: not a GPU.
		s.GPUs = append(s.GPUs, GPU{Addr: fmt.Sprintf("0000:%02x:00.1", i+1), Vendor: "0x10de", Class: "0x040300"})
	}
	if n > 0 {
		s.Loaded["nouveau"] = ""
	}
	for _, p := range []string{"proxmox-headers-" + kernel, "build-essential", "dkms", MetaHeaders} {
		s.Available[p] = "1.0"
	}
	if debVersion != "" {
		for _, p := range DebianPackages {
			s.Available[p] = debVersion
		}
		s.Available["nvidia-persistenced"] = "535.171.04-1"
	}
	return s
}

// MetaHeaders is the headers meta package of the fake Proxmox archive. It
// depends on the headers of the newest kernel of the default series; the
// fake resolves that to the kernel that is newest when it is installed or
// upgraded (the running one at install time, UpgradeKernel's afterwards).
const MetaHeaders = "proxmox-default-headers"

// UpgradeKernel is `apt full-upgrade` bringing a new default kernel k, with
// Phoenix nowhere in sight: the kernel package is installed; its headers
// too, but only through MetaHeaders' dependency; then DKMS's kernel
// postinst hook (dkms debian_kernel_postinst.d.in -> dkms_autoinstaller
// start k, at 793fdab) builds and installs every DKMS module for k when its
// headers are there and skips the kernel otherwise (dkms_autoinstaller.in:
// 32-35). The running kernel changes only at the next Boot.
func (s *State) UpgradeKernel(k string) {
	s.Available["proxmox-kernel-"+k] = "1.0"
	s.Installed["proxmox-kernel-"+k] = "1.0"
	s.Available["proxmox-headers-"+k] = "1.0"
	if _, ok := s.Installed[MetaHeaders]; ok {
		s.Installed["proxmox-headers-"+k] = "1.0"
	}
	s.NextKernel = k
	if !s.headersFor(k) {
		return
	}
	seen := map[string]bool{}
	for _, d := range s.DKMS {
		if d.State != "installed" || seen[d.Module+"/"+d.Version] {
			continue
		}
		seen[d.Module+"/"+d.Version] = true
		s.DKMS = append(s.DKMS, DKMS{Module: d.Module, Version: d.Version, Kernel: k, State: "installed"})
	}
}

// DebianPackages are the driver packages the fake archive knows.
var DebianPackages = []string{"nvidia-driver", "nvidia-kernel-dkms", "nvidia-smi", "nvidia-driver-libs"}

func (s *State) normalize() {
	if s.Available == nil {
		s.Available = map[string]string{}
	}
	if s.Installed == nil {
		s.Installed = map[string]string{}
	}
	if s.Loaded == nil {
		s.Loaded = map[string]string{}
	}
	if s.UVMMajor == 0 {
		s.UVMMajor = 508
	}
	if s.CapsMajor == 0 {
		s.CapsMajor = 509
	}
	sort.Strings(s.Enabled)
	sort.Strings(s.Initramfs)
	sort.Slice(s.DKMS, func(i, j int) bool {
		a, b := s.DKMS[i], s.DKMS[j]
		return a.Module+"/"+a.Version+"/"+a.Kernel < b.Module+"/"+b.Version+"/"+b.Kernel
	})
}

// BootID is the /proc/sys/kernel/random/boot_id of the current boot.
func (s *State) BootID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.Boots)
}

// nvidiaGPUs counts the NVIDIA display devices not bound to vfio-pci: the
// ones nvidia-smi shows.
func (s *State) nvidiaGPUs() int {
	n := 0
	for _, g := range s.GPUs {
		if g.Vendor == "0x10de" && strings.HasPrefix(g.Class, "0x03") && g.Driver != "vfio-pci" {
			n++
		}
	}
	return n
}

func (s *State) headers() bool { return s.headersFor(s.Kernel) }

func (s *State) headersFor(k string) bool {
	for _, p := range []string{"proxmox-headers-", "pve-headers-", "linux-headers-"} {
		if _, ok := s.Installed[p+k]; ok {
			return true
		}
	}
	return false
}

// Fake is the fake host: its state directory and the root it mirrors into.
type Fake struct {
	StateDir string
	RootDir  string
}

// New returns a Fake keeping state.json in stateDir and mirroring into the
// real directory rootDir.
func New(stateDir, rootDir string) *Fake { return &Fake{StateDir: stateDir, RootDir: rootDir} }

func (f *Fake) file() string { return filepath.Join(f.StateDir, "state.json") }

// Load reads the state.
func (f *Fake) Load() (*State, error) {
	var s State
	if err := fakehost.LoadState(f.file(), &s); err != nil {
		return nil, fmt.Errorf("fake nvidia: state: %w", err)
	}
	s.normalize()
	return &s, nil
}

// Save writes the state and mirrors it into the root.
func (f *Fake) Save(s *State) error {
	s.normalize()
	if err := fakehost.SaveState(f.file(), s); err != nil {
		return err
	}
	return f.sync(s)
}

// Update loads the state, applies fn and saves it.
func (f *Fake) Update(fn func(*State)) error {
	s, err := f.Load()
	if err != nil {
		return err
	}
	fn(s)
	return f.Save(s)
}

// Effects is the canonical dump of the fake host (state.json), for the
// fault-injection harness. Boot counters are left out: a simulated crash is
// a power loss, so faulted runs boot more often than the fault-free one.
func (f *Fake) Effects() string {
	s, err := f.Load()
	if err != nil {
		return err.Error()
	}
	s.Boots = 0
	if s.Driver != nil {
		d := *s.Driver
		d.Boot = 0
		s.Driver = &d
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

// Boot simulates a reboot: modules blacklisted in the initramfs stay
// unloaded, nouveau binds the GPUs otherwise, and an installed nvidia module
// built for the kernel is loaded by udev. nvidia-uvm is not loaded at boot
// unless /etc/modules-load.d names it (it is loaded on demand otherwise),
// as on a real host.
func (f *Fake) Boot() error {
	if f.RootDir != "" {
		os.Remove(filepath.Join(f.RootDir, bootIDFile))
		// /dev is a fresh devtmpfs at every boot: the nodes nvidia-modprobe
		// made are gone until something makes them again.
		nodes, _ := filepath.Glob(filepath.Join(f.RootDir, "dev", "nvidia*"))
		for _, n := range nodes {
			os.Remove(n)
		}
	}
	return f.Update(func(s *State) {
		s.Boots++
		if s.NextKernel != "" {
			s.Kernel, s.NextKernel = s.NextKernel, ""
		}
		s.Loaded = map[string]string{}
		black := map[string]bool{}
		for _, m := range s.Initramfs {
			black[m] = true
		}
		if s.nvidiaGPUs() > 0 && !black["nouveau"] {
			s.Loaded["nouveau"] = ""
			return
		}
		if s.nvidiaGPUs() > 0 && !black["nvidia"] && s.moduleBuilt() && !s.Broken {
			s.Loaded["nvidia"] = s.Driver.Version
		}
		// systemd-modules-load: /etc/modules-load.d/*.conf, one module a
		// line, failures ignored.
		files, _ := filepath.Glob(filepath.Join(f.RootDir, "/etc/modules-load.d/*.conf"))
		for _, p := range files {
			b, _ := os.ReadFile(p)
			for _, line := range strings.Split(string(b), "\n") {
				if line = strings.TrimSpace(line); line != "" && line[0] != '#' && line[0] != ';' {
					s.insert(modName(line))
				}
			}
		}
	})
}

// moduleBuilt reports whether the installed driver has a module for the
// running kernel.
func (s *State) moduleBuilt() bool {
	if s.Driver == nil {
		return false
	}
	if s.Driver.Kernel == s.Kernel {
		return true
	}
	for _, d := range s.DKMS {
		if d.Module == s.Driver.Module && d.Version == s.Driver.Version && d.Kernel == s.Kernel && d.State == "installed" {
			return true
		}
	}
	return false
}

const bootIDFile = "/proc/sys/kernel/random/boot_id"

// managedModules are the /sys/module entries the fake owns in the root.
var managedModules = []string{"nouveau", "nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"}

// sync mirrors the state into the root the way the kernel shows it.
func (f *Fake) sync(s *State) error {
	if f.RootDir == "" {
		return nil
	}
	w := func(p, content string) error {
		full := filepath.Join(f.RootDir, p)
		if old, err := os.ReadFile(full); err == nil && string(old) == content {
			return nil // like sysfs: unchanged state, unchanged file
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, []byte(content), 0o644)
	}
	if s.Kernel != "" {
		if err := w("/proc/sys/kernel/osrelease", s.Kernel+"\n"); err != nil {
			return err
		}
	}
	// The boot id is written when missing and by Boot only: another fake
	// (the engine's systemctl reboot) may have written a newer one.
	if _, err := os.Stat(filepath.Join(f.RootDir, bootIDFile)); err != nil {
		if err := w(bootIDFile, s.BootID()+"\n"); err != nil {
			return err
		}
	}
	for _, m := range managedModules {
		dir := filepath.Join(f.RootDir, "/sys/module", m)
		v, loaded := s.Loaded[m]
		if !loaded {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if v != "" {
			if err := w("/sys/module/"+m+"/version", v+"\n"); err != nil {
				return err
			}
		}
	}
	var dev strings.Builder
	dev.WriteString("Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  5 /dev/tty\n 10 misc\n")
	if _, ok := s.Loaded["nvidia"]; ok {
		dev.WriteString("195 nvidia-frontend\n")
	}
	majors := map[int]string{}
	if _, ok := s.Loaded["nvidia"]; ok {
		majors[s.CapsMajor] = "nvidia-caps"
	}
	if _, ok := s.Loaded["nvidia_uvm"]; ok {
		majors[s.UVMMajor] = "nvidia-uvm"
	}
	var keys []int
	for k := range majors {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		fmt.Fprintf(&dev, "%3d %s\n", k, majors[k])
	}
	dev.WriteString("\nBlock devices:\n  8 sd\n259 blkext\n")
	if err := w("/proc/devices", dev.String()); err != nil {
		return err
	}
	for _, g := range s.GPUs {
		base := "/sys/bus/pci/devices/" + g.Addr
		if err := w(base+"/vendor", g.Vendor+"\n"); err != nil {
			return err
		}
		if err := w(base+"/class", g.Class+"\n"); err != nil {
			return err
		}
		link := filepath.Join(f.RootDir, base, "driver")
		_ = os.Remove(link)
		if g.Driver != "" {
			if err := os.Symlink("../../../bus/pci/drivers/"+g.Driver, link); err != nil {
				return err
			}
		}
	}
	unit := filepath.Join(f.RootDir, "/usr/lib/systemd/system/nvidia-persistenced.service")
	if _, ok := s.Installed["nvidia-persistenced"]; ok {
		if err := w("/usr/lib/systemd/system/nvidia-persistenced.service", "[Unit]\nDescription=NVIDIA Persistence Daemon (Debian package)\n"); err != nil {
			return err
		}
	} else if err := os.RemoveAll(unit); err != nil {
		return err
	}
	uninstall := filepath.Join(f.RootDir, "/usr/bin/nvidia-uninstall")
	if s.Driver != nil && s.Driver.Method == "runfile" {
		if err := w("/usr/bin/nvidia-uninstall", "#!/bin/sh\n# fake nvidia-uninstall "+s.Driver.Version+"\n"); err != nil {
			return err
		}
	} else if err := os.RemoveAll(uninstall); err != nil {
		return err
	}
	return nil
}
