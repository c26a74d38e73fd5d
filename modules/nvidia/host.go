package nvidia

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Well-known paths, all inside the Root. Tests build fake sysfs and /proc
// trees at these paths.
const (
	PCIDevices    = "/sys/bus/pci/devices"
	SysModule     = "/sys/module"
	ProcDevices   = "/proc/devices"
	OSRelease     = "/proc/sys/kernel/osrelease"
	EFIDir        = "/sys/firmware/efi"
	SecureBootVar = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
	// BlacklistFile keeps nouveau away from the GPUs.
	BlacklistFile = "/etc/modprobe.d/phoenix-nvidia.conf"
	// ModulesLoadFile loads nvidia and nvidia-uvm at every boot, so the
	// device nodes and majors containers need exist before they start.
	ModulesLoadFile = "/etc/modules-load.d/phoenix-nvidia.conf"
	// NodesRules and NodesUnit make the device nodes of a runfile install
	// at every boot (see nodesFiles).
	NodesRules = "/etc/udev/rules.d/70-phoenix-nvidia.rules"
	NodesUnit  = "/etc/systemd/system/phoenix-nvidia-nodes.service"
	// CacheDir holds downloaded runfiles.
	CacheDir = "/var/lib/phoenix/cache"
	// Uninstaller is what a runfile install leaves behind; its presence
	// means a runfile install exists.
	Uninstaller = "/usr/bin/nvidia-uninstall"
	// PersistencedUnit is written for runfile installs, which ship the
	// daemon but no unit.
	PersistencedUnit = "/etc/systemd/system/nvidia-persistenced.service"
)

// unitDirs are where a packaged nvidia-persistenced.service may live.
var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// nvidiaVendor is NVIDIA's PCI vendor id; display controllers are PCI class
// 0x03xxxx (VGA 0x0300, 3D 0x0302). The HDMI audio function of a card
// (0x0403) is not a GPU.
const nvidiaVendor = "0x10de"

// GPU is one NVIDIA display device on the PCI bus.
type GPU struct {
	Addr  string // 0000:01:00.0
	Class string
	// Driver is the bound kernel driver ("" when none); vfio-pci means the
	// GPU is passed through to a VM and is not the host's.
	Driver string
}

// DetectGPUs lists the NVIDIA display devices from sysfs, sorted by address.
// No lspci: sysfs is always there and needs no package.
func DetectGPUs(r host.Root) ([]GPU, error) {
	ents, err := r.ReadDir(PCIDevices)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("detect GPUs: %w", err)
	}
	var gpus []GPU
	for _, e := range ents {
		dir := path.Join(PCIDevices, e.Name())
		vendor, err1 := readTrim(r, dir+"/vendor")
		class, err2 := readTrim(r, dir+"/class")
		if err1 != nil || err2 != nil {
			continue // not a device directory
		}
		if !strings.EqualFold(vendor, nvidiaVendor) || !strings.HasPrefix(strings.ToLower(class), "0x03") {
			continue
		}
		g := GPU{Addr: e.Name(), Class: class}
		if l, err := r.Readlink(dir + "/driver"); err == nil {
			g.Driver = path.Base(l)
		}
		gpus = append(gpus, g)
	}
	sort.Slice(gpus, func(i, j int) bool { return gpus[i].Addr < gpus[j].Addr })
	return gpus, nil
}

// hostGPUs are the GPUs not passed through to VMs.
func hostGPUs(all []GPU) []GPU {
	var out []GPU
	for _, g := range all {
		if g.Driver != "vfio-pci" {
			out = append(out, g)
		}
	}
	return out
}

func readTrim(r host.Root, p string) (string, error) {
	b, err := r.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// kernelRelease is uname -r, read from /proc so that it works on a Root.
func kernelRelease(r host.Root) (string, error) {
	k, err := readTrim(r, OSRelease)
	if err != nil || k == "" {
		return "", fmt.Errorf("running kernel release (%s): %w", OSRelease, orEmpty(err))
	}
	return k, nil
}

func orEmpty(err error) error {
	if err == nil {
		return errors.New("empty")
	}
	return err
}

// loaded reports whether kernel module mod (underscore name) is loaded.
func loaded(r host.Root, mod string) bool { return host.Exists(r, path.Join(SysModule, mod)) }

// loadedVersion is the version of the loaded nvidia module, "" when it is
// not loaded.
func loadedVersion(r host.Root) string {
	v, _ := readTrim(r, path.Join(SysModule, "nvidia", "version"))
	return v
}

// Devices parses /proc/devices and returns the character devices whose name
// starts with "nvidia", names exactly as the kernel lists them
// ("nvidia-frontend", "nvidia-uvm", "nvidia-caps"...). nvidia-uvm's major is
// dynamic: it must be read, never assumed (the bash original hard-coded 243).
func Devices(r host.Root) (map[string]int, error) {
	b, err := r.ReadFile(ProcDevices)
	if err != nil {
		return nil, err
	}
	devs := map[string]int{}
	inChar := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "Character devices:":
			inChar = true
			continue
		case strings.HasSuffix(line, "devices:"):
			inChar = false
			continue
		}
		f := strings.Fields(line)
		if !inChar || len(f) != 2 || !strings.HasPrefix(f[1], "nvidia") {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil {
			devs[f[1]] = n
		}
	}
	return devs, nil
}

// dkmsEntry is one line of dkms status.
type dkmsEntry struct {
	Module, Version, Kernel, State string
}

// parseDKMS reads dkms status output in the dkms 3 format
// ("nvidia/580.76.05, 6.8.12-4-pve, x86_64: installed") and the dkms 2 one
// ("nvidia, 580.76.05, 6.8.12-4-pve, x86_64: installed").
func parseDKMS(out []byte) []dkmsEntry {
	var es []dkmsEntry
	for _, line := range strings.Split(string(out), "\n") {
		i := strings.LastIndex(line, ": ")
		if i < 0 {
			continue
		}
		left, state := line[:i], strings.Fields(line[i+2:])
		if len(state) == 0 {
			continue
		}
		f := strings.Split(left, ", ")
		var e dkmsEntry
		if m, v, ok := strings.Cut(f[0], "/"); ok {
			e.Module, e.Version, f = m, v, f[1:]
		} else if len(f) >= 2 {
			e.Module, e.Version, f = f[0], f[1], f[2:]
		} else {
			continue
		}
		if len(f) > 0 {
			e.Kernel = f[0]
		}
		e.State = strings.TrimSuffix(state[0], ",")
		es = append(es, e)
	}
	return es
}

// dkmsStatus runs dkms status and returns the entries of the nvidia modules
// (nvidia from a runfile, nvidia-current from Debian's packages).
func dkmsStatus(ctx context.Context, run host.Runner) ([]dkmsEntry, error) {
	out, err := run.Run(ctx, host.Cmd{Name: "dkms", Args: []string{"status"}})
	if err != nil {
		return nil, err
	}
	var es []dkmsEntry
	for _, e := range parseDKMS(out.Stdout) {
		if e.Module == "nvidia" || e.Module == "nvidia-current" {
			es = append(es, e)
		}
	}
	return es, nil
}

// builtFor reports whether DKMS has module version installed for kernel.
func builtFor(es []dkmsEntry, module, version, kernel string) bool {
	for _, e := range es {
		if e.Module == module && e.Version == version && e.Kernel == kernel && e.State == "installed" {
			return true
		}
	}
	return false
}

// smiVersions runs nvidia-smi and returns one driver version per GPU.
func smiVersions(ctx context.Context, run host.Runner) ([]string, error) {
	out, err := run.Run(ctx, host.Cmd{Name: "nvidia-smi", Args: []string{"--query-gpu=driver_version", "--format=csv,noheader"}})
	if err != nil {
		// nvidia-smi prints its reasons on stdout.
		if msg := strings.TrimSpace(string(out.Stdout)); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return nil, err
	}
	var vs []string
	for _, l := range strings.Split(string(out.Stdout), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			vs = append(vs, l)
		}
	}
	return vs, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// secureBoot reports whether UEFI Secure Boot is on: from the EFI variable
// when efivarfs shows it, else from mokutil. A machine without
// /sys/firmware/efi booted in legacy mode and has no Secure Boot.
func secureBoot(ctx context.Context, r host.Root, run host.Runner) (bool, error) {
	if !host.Exists(r, EFIDir) {
		return false, nil
	}
	if b, err := r.ReadFile(SecureBootVar); err == nil && len(b) >= 5 {
		// 4 bytes of attributes, then the value.
		return b[4] == 1, nil
	}
	out, err := run.Run(ctx, host.Cmd{Name: "mokutil", Args: []string{"--sb-state"}})
	if err != nil {
		return false, fmt.Errorf("read the Secure Boot state: %w", err)
	}
	return bytes.Contains(out.Stdout, []byte("SecureBoot enabled")), nil
}

// aptPolicy is the Installed and Candidate versions apt-cache policy shows
// per package ("" for "(none)"); packages apt does not know are absent.
type aptPolicy map[string]struct{ Installed, Candidate string }

func policy(ctx context.Context, run host.Runner, pkgs ...string) (aptPolicy, error) {
	out, err := run.Run(ctx, host.Cmd{Name: "apt-cache", Args: append([]string{"policy"}, pkgs...)})
	if err != nil {
		return nil, err
	}
	pol := aptPolicy{}
	cur := ""
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		if line != "" && line[0] != ' ' && strings.HasSuffix(line, ":") {
			cur = strings.TrimSuffix(line, ":")
			pol[cur] = struct{ Installed, Candidate string }{}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || cur == "" {
			continue
		}
		if v == "(none)" {
			v = ""
		}
		e := pol[cur]
		switch k {
		case "Installed":
			e.Installed = v
		case "Candidate":
			e.Candidate = v
		}
		pol[cur] = e
	}
	return pol, nil
}

// upstream strips a Debian version down to the driver version:
// "535.247.01-1~deb12u1" -> "535.247.01".
func upstream(debVersion string) string {
	v := debVersion
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	v, _, _ = strings.Cut(v, "-")
	return v
}
