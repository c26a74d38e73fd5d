package fake

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	fetchfake "github.com/phoenix-pve/phoenix/modules/internal/fetch/fake"
)

// Commands are the tools this fake provides, by the name a module runs them.
// "sh" runs a fake runfile (and nothing else).
var Commands = []string{
	"nvidia-smi", "dkms", "modprobe", "mokutil", "update-initramfs", "curl",
	"sh", RunfileCommand, "nvidia-uninstall", "apt-get", "apt-cache", "dpkg-query", "systemctl",
	"nvidia-modprobe",
}

// RunfileCommand is the command a fake runfile script execs (on PATH in
// testscript), the in-process "sh" handler runs it directly.
const RunfileCommand = "nvidia-runfile-fake"

// runfileMarker identifies a fake runfile.
const runfileMarker = "# phoenix fake NVIDIA runfile"

// Runfile is the content of a fake NVIDIA runfile for version: a shell
// script, as the real one is, that execs the fake installer.
func Runfile(version string) []byte {
	return []byte("#!/bin/sh\n" + runfileMarker + "\nexec " + RunfileCommand + " " + version + " \"$@\"\n")
}

// Register installs the fake's handlers on r. Leave out names (e.g.
// "systemctl") that another fake provides.
func (f *Fake) Register(r *fakehost.Runner, except ...string) {
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	for _, name := range Commands {
		if skip[name] {
			continue
		}
		name := name
		r.Handle(name, func(_ context.Context, c fakehost.Call) fakehost.Result {
			return f.Run(name, c.Cmd.Args)
		})
	}
}

// Run runs one fake command against the state.
func (f *Fake) Run(name string, args []string) fakehost.Result {
	s, err := f.Load()
	if err != nil {
		return fakehost.Fail(70, err.Error()+"\n")
	}
	var res fakehost.Result
	switch name {
	case "nvidia-smi":
		res = s.nvidiaSMI(args)
	case "dkms":
		res = s.dkms(args)
	case "modprobe":
		res = s.modprobe(args)
	case "mokutil":
		res = s.mokutil(args)
	case "update-initramfs":
		res = f.updateInitramfs(s, args)
	case "curl":
		res = s.curl(args)
	case "sh":
		res = s.sh(args)
	case RunfileCommand:
		if len(args) == 0 {
			return fakehost.Fail(2, "usage: "+RunfileCommand+" VERSION ARGS...\n")
		}
		res = s.runfile(args[0], args[1:])
	case "nvidia-uninstall":
		res = s.uninstall(args)
	case "apt-get":
		res = s.aptGet(args)
	case "apt-cache":
		res = s.aptCache(args)
	case "dpkg-query":
		res = s.dpkgQuery(args)
	case "systemctl":
		res = s.systemctl(args)
	case "nvidia-modprobe":
		res = f.nvidiaModprobe(s, args)
	default:
		return fakehost.Fail(127, name+": command not found\n")
	}
	if err := f.Save(s); err != nil {
		return fakehost.Fail(70, err.Error()+"\n")
	}
	return res
}

func has(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

// nvidiaSMI supports the query Phoenix uses; output and exit codes are the
// real ones (9: cannot talk to the driver, 18: version mismatch).
func (s *State) nvidiaSMI(args []string) fakehost.Result {
	if s.Driver == nil {
		return fakehost.Fail(127, "nvidia-smi: command not found\n")
	}
	if !has(args, "--query-gpu=driver_version") || !has(args, "--format=csv,noheader") {
		return fakehost.Fail(2, "fake nvidia-smi: only --query-gpu=driver_version --format=csv,noheader is supported\n")
	}
	v, ok := s.Loaded["nvidia"]
	if !ok {
		return fakehost.Result{Code: 9, Stdout: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n"}
	}
	if v != s.Driver.Version {
		return fakehost.Result{Code: 18, Stdout: "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: " + s.Driver.Version + "\n"}
	}
	return fakehost.OK(strings.Repeat(v+"\n", s.nvidiaGPUs()))
}

// dkms supports status [-m M] [-v V] [-k K] and install -m M -v V -k K (or
// install M/V -k K), in dkms 3.x syntax and output.
func (s *State) dkms(args []string) fakehost.Result {
	if len(args) == 0 {
		return fakehost.Fail(1, "Error! No action was specified.\n")
	}
	var mod, ver, kern string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		switch a := rest[i]; {
		case a == "-m" && i+1 < len(rest):
			i++
			mod = rest[i]
		case a == "-v" && i+1 < len(rest):
			i++
			ver = rest[i]
		case a == "-k" && i+1 < len(rest):
			i++
			kern = rest[i]
		case strings.Contains(a, "/"):
			mod, ver, _ = strings.Cut(a, "/")
		default:
			return fakehost.Fail(1, "Error! Unknown option: "+a+"\n")
		}
	}
	switch args[0] {
	case "status":
		var b strings.Builder
		for _, d := range s.DKMS {
			if (mod == "" || d.Module == mod) && (ver == "" || d.Version == ver) && (kern == "" || d.Kernel == kern) {
				if d.State == "added" {
					fmt.Fprintf(&b, "%s/%s: added\n", d.Module, d.Version)
					continue
				}
				fmt.Fprintf(&b, "%s/%s, %s, x86_64: %s\n", d.Module, d.Version, d.Kernel, d.State)
			}
		}
		return fakehost.OK(b.String())
	case "install":
		if mod == "" || ver == "" {
			return fakehost.Fail(1, "Error! Invalid number of arguments passed.\nUsage: install <module>/<module-version> or install -m <module>/<module-version> or install -m <module> -v <module-version>\n")
		}
		if kern == "" {
			kern = s.Kernel
		}
		found := false
		for _, d := range s.DKMS {
			if d.Module == mod && d.Version == ver {
				found = true
			}
		}
		if !found {
			return fakehost.Fail(3, fmt.Sprintf("Error! The module/version combo: %s-%s is not located in the DKMS tree.\n", mod, ver))
		}
		if !s.headers() {
			return fakehost.Fail(1, fmt.Sprintf("Error! Your kernel headers for kernel %s cannot be found.\n", kern))
		}
		for i, d := range s.DKMS {
			if d.Module == mod && d.Version == ver && d.Kernel == kern {
				s.DKMS[i].State = "installed"
				return fakehost.OK("Module " + mod + "/" + ver + " already installed on kernel " + kern + "\n")
			}
		}
		s.DKMS = append(s.DKMS, DKMS{Module: mod, Version: ver, Kernel: kern, State: "installed"})
		return fakehost.OK("Building module(s)... done.\n")
	}
	return fakehost.Fail(1, "Error! Unknown action: "+args[0]+"\n")
}

func modName(m string) string { return strings.ReplaceAll(m, "-", "_") }

// modprobe inserts or (-r) removes modules with modprobe's messages.
func (s *State) modprobe(args []string) fakehost.Result {
	remove := false
	var names []string
	for _, a := range args {
		switch {
		case a == "-r" || a == "--remove":
			remove = true
		case strings.HasPrefix(a, "-"):
		default:
			names = append(names, modName(a))
		}
	}
	if len(names) == 0 {
		return fakehost.Fail(1, "modprobe: ERROR: missing parameters. See -h.\n")
	}
	if remove {
		removing := map[string]bool{}
		for _, n := range names {
			removing[n] = true
		}
		for _, n := range names {
			if _, ok := s.Loaded[n]; !ok {
				continue
			}
			if n == "nvidia" {
				if s.InUse {
					return fakehost.Fail(1, "modprobe: FATAL: Module nvidia is in use.\n")
				}
				for _, dep := range []string{"nvidia_uvm", "nvidia_modeset", "nvidia_drm"} {
					if _, ok := s.Loaded[dep]; ok && !removing[dep] {
						return fakehost.Fail(1, "modprobe: FATAL: Module nvidia is in use.\n")
					}
				}
			}
			delete(s.Loaded, n)
		}
		return fakehost.OK("")
	}
	for _, n := range names {
		if err := s.insert(n); err != "" {
			return fakehost.Fail(1, err)
		}
	}
	return fakehost.OK("")
}

// insert loads one module; it returns modprobe's error message or "".
func (s *State) insert(n string) string {
	if _, ok := s.Loaded[n]; ok {
		return ""
	}
	switch n {
	case "nvidia":
		if !s.moduleBuilt() {
			return "modprobe: FATAL: Module nvidia not found in directory /lib/modules/" + s.Kernel + "\n"
		}
		if _, ok := s.Loaded["nouveau"]; ok {
			return "modprobe: ERROR: could not insert 'nvidia': No such device\n"
		}
		if s.Broken {
			return "modprobe: ERROR: could not insert 'nvidia': Exec format error\n"
		}
		if s.LoadNeedsReboot && s.Driver.Boot == s.Boots {
			return "modprobe: ERROR: could not insert 'nvidia': Device or resource busy\n"
		}
		s.Loaded["nvidia"] = s.Driver.Version
	case "nvidia_uvm", "nvidia_modeset", "nvidia_drm":
		if err := s.insert("nvidia"); err != "" {
			return strings.Replace(err, "'nvidia'", "'"+n+"'", 1)
		}
		s.Loaded[n] = ""
	case "nouveau":
		s.Loaded[n] = ""
	default:
		return "modprobe: FATAL: Module " + n + " not found in directory /lib/modules/" + s.Kernel + "\n"
	}
	return ""
}

func (s *State) mokutil(args []string) fakehost.Result {
	if !has(args, "--sb-state") {
		return fakehost.Fail(1, "fake mokutil: only --sb-state is supported\n")
	}
	if s.SecureBoot {
		return fakehost.OK("SecureBoot enabled\n")
	}
	return fakehost.OK("SecureBoot disabled\n")
}

var blacklistLine = regexp.MustCompile(`(?m)^\s*blacklist\s+(\S+)`)

// updateInitramfs snapshots the blacklists of /etc/modprobe.d into the
// "initramfs", which Boot honours.
func (f *Fake) updateInitramfs(s *State, args []string) fakehost.Result {
	if !has(args, "-u") {
		return fakehost.Fail(1, "fake update-initramfs: only -u is supported\n")
	}
	s.Initramfs = nil
	if f.RootDir != "" {
		files, _ := filepath.Glob(filepath.Join(f.RootDir, "/etc/modprobe.d/*.conf"))
		seen := map[string]bool{}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return fakehost.Fail(1, err.Error()+"\n")
			}
			for _, m := range blacklistLine.FindAllSubmatch(b, -1) {
				if n := string(m[1]); !seen[n] {
					seen[n] = true
					s.Initramfs = append(s.Initramfs, n)
				}
			}
		}
		sort.Strings(s.Initramfs)
	}
	return fakehost.OK("update-initramfs: Generating /boot/initrd.img-" + s.Kernel + "\n")
}

// curl supports -fsSL --retry N -o FILE URL for the URLs in Downloads.
func (s *State) curl(args []string) fakehost.Result {
	url, out, fail := fetchfake.ParseArgs(args)
	if fail != nil {
		return *fail
	}
	v, ok := s.Downloads[url]
	if !ok {
		return fakehost.Fail(22, "curl: (22) The requested URL returned error: 404\n")
	}
	if err := os.WriteFile(out, Runfile(v), 0o644); err != nil {
		return fakehost.Fail(23, "curl: (23) Failure writing output to destination\n")
	}
	return fakehost.OK("")
}

// sh runs a fake runfile in-process; it refuses anything else.
func (s *State) sh(args []string) fakehost.Result {
	if len(args) == 0 {
		return fakehost.Fail(2, "fake sh: only runs fake runfiles\n")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return fakehost.Fail(127, "sh: 0: cannot open "+args[0]+": No such file\n")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	marked := false
	for sc.Scan() {
		line := sc.Text()
		if line == runfileMarker {
			marked = true
		}
		if f := strings.Fields(line); marked && len(f) >= 3 && f[0] == "exec" && f[1] == RunfileCommand {
			return s.runfile(f[2], args[1:])
		}
	}
	return fakehost.Fail(2, "fake sh: "+args[0]+" is not a fake runfile (corrupt download?)\n")
}

// runfile is the NVIDIA installer of version run with args.
func (s *State) runfile(version string, args []string) fakehost.Result {
	if !has(args, "--silent") || !has(args, "--accept-license") {
		return fakehost.Fail(1, "ERROR: fake installer: run it with --silent --accept-license\n")
	}
	if _, ok := s.Loaded["nouveau"]; ok {
		return fakehost.Fail(1, "ERROR: The Nouveau kernel driver is currently in use by your system.  This driver is incompatible with the NVIDIA driver, and must be disabled before proceeding.\n")
	}
	if !s.headers() {
		return fakehost.Fail(1, "ERROR: Unable to find the kernel source tree for the currently running kernel.  Please make sure you have installed the kernel source files for your kernel.\n")
	}
	if s.Driver != nil && s.Driver.Method == "packages" {
		return fakehost.Fail(1, "ERROR: An NVIDIA driver is already installed by the distribution's package manager (version "+s.Driver.Version+"); remove it first.\n")
	}
	dkms := has(args, "--dkms")
	if _, ok := s.Installed["dkms"]; dkms && !ok {
		return fakehost.Fail(1, "ERROR: Failed to run `dkms`: command not found.\n")
	}
	s.dropDKMS("nvidia")
	s.Driver = &Driver{Version: version, Method: "runfile", Module: "nvidia", Boot: s.Boots, Kernel: s.Kernel}
	if dkms {
		s.DKMS = append(s.DKMS, DKMS{Module: "nvidia", Version: version, Kernel: s.Kernel, State: "installed"})
	}
	return fakehost.OK("Installation of the NVIDIA Accelerated Graphics Driver for Linux-x86_64 (version: " + version + ") is now complete.\n")
}

func (s *State) dropDKMS(mod string) {
	var keep []DKMS
	for _, d := range s.DKMS {
		if d.Module != mod {
			keep = append(keep, d)
		}
	}
	s.DKMS = keep
}

func (s *State) uninstall(args []string) fakehost.Result {
	if s.Driver == nil || s.Driver.Method != "runfile" {
		return fakehost.Fail(127, "nvidia-uninstall: command not found\n")
	}
	if !has(args, "--silent") {
		return fakehost.Fail(1, "fake nvidia-uninstall: run it with --silent\n")
	}
	s.dropDKMS(s.Driver.Module)
	s.Driver = nil
	return fakehost.OK("Uninstallation of existing driver is complete.\n")
}

// aptGet supports install, purge and update, with apt's exit code 100.
func (s *State) aptGet(args []string) fakehost.Result {
	var verb string
	var pkgs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "-"):
		case verb == "":
			verb = a
		default:
			pkgs = append(pkgs, a)
		}
	}
	switch verb {
	case "update":
		return fakehost.OK("Reading package lists...\n")
	case "install":
		for _, p := range pkgs {
			name, ver, pinned := strings.Cut(p, "=")
			av, ok := s.Available[name]
			if !ok || (pinned && av != ver) {
				return fakehost.Fail(100, "E: Unable to locate package "+p+"\n")
			}
		}
		for _, p := range pkgs {
			name, _, _ := strings.Cut(p, "=")
			if (name == "nvidia-driver" || name == "nvidia-kernel-dkms") && s.Driver != nil && s.Driver.Method == "runfile" {
				return fakehost.Fail(100, "dpkg: error processing archive nvidia-kernel-dkms: trying to overwrite '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1', which is also in a runfile install\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n")
			}
		}
		for _, p := range pkgs {
			name, _, _ := strings.Cut(p, "=")
			s.Installed[name] = s.Available[name]
			if name == MetaHeaders {
				// Its dependency: the default (here: running) kernel's headers.
				if v, ok := s.Available["proxmox-headers-"+s.Kernel]; ok {
					s.Installed["proxmox-headers-"+s.Kernel] = v
				}
			}
			if name == "nvidia-driver" || name == "nvidia-kernel-dkms" {
				for _, dep := range DebianPackages {
					if v, ok := s.Available[dep]; ok {
						s.Installed[dep] = v
					}
				}
				if _, ok := s.Installed["dkms"]; !ok || !s.headers() {
					return fakehost.Fail(100, "Error! Your kernel headers for kernel "+s.Kernel+" cannot be found.\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n")
				}
				up, _, _ := strings.Cut(s.Available[name], "-")
				s.dropDKMS("nvidia-current")
				s.Driver = &Driver{Version: up, Method: "packages", Module: "nvidia-current", Boot: s.Boots}
				s.DKMS = append(s.DKMS, DKMS{Module: "nvidia-current", Version: up, Kernel: s.Kernel, State: "installed"})
			}
		}
		return fakehost.OK("")
	case "purge", "remove":
		for _, p := range pkgs {
			delete(s.Installed, p)
			if (p == "nvidia-driver" || p == "nvidia-kernel-dkms") && s.Driver != nil && s.Driver.Method == "packages" {
				for _, dep := range DebianPackages {
					delete(s.Installed, dep)
				}
				s.dropDKMS(s.Driver.Module)
				s.Driver = nil
			}
		}
		return fakehost.OK("")
	}
	return fakehost.Fail(100, "E: Invalid operation "+verb+"\n")
}

// aptCache supports policy PKG...: unknown packages print nothing.
func (s *State) aptCache(args []string) fakehost.Result {
	if len(args) == 0 || args[0] != "policy" {
		return fakehost.Fail(100, "fake apt-cache: only policy is supported\n")
	}
	var b strings.Builder
	for _, p := range args[1:] {
		av, known := s.Available[p]
		iv, inst := s.Installed[p]
		if !known && !inst {
			continue
		}
		if !inst {
			iv = "(none)"
		}
		if !known {
			av = "(none)"
		}
		fmt.Fprintf(&b, "%s:\n  Installed: %s\n  Candidate: %s\n  Version table:\n", p, iv, av)
	}
	return fakehost.OK(b.String())
}

// dpkgQuery supports -W -f=FORMAT PKG... with ${Package}, ${Version},
// ${Architecture} and ${db:Status-Abbrev}; like dpkg-query it exits 1 when a package is unknown.
func (s *State) dpkgQuery(args []string) fakehost.Result {
	format := "${Package}\t${Version}\n"
	var pkgs []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-f="):
			format = strings.TrimPrefix(a, "-f=")
		case strings.HasPrefix(a, "--showformat="):
			format = strings.TrimPrefix(a, "--showformat=")
		case strings.HasPrefix(a, "-"):
		default:
			pkgs = append(pkgs, a)
		}
	}
	var out, errs strings.Builder
	for _, p := range pkgs {
		v, ok := s.Installed[p]
		if !ok {
			fmt.Fprintf(&errs, "dpkg-query: no packages found matching %s\n", p)
			continue
		}
		r := strings.NewReplacer("${Package}", p, "${Version}", v, "${Architecture}", "amd64", "${db:Status-Abbrev}", "ii ", `\n`, "\n")
		out.WriteString(r.Replace(format))
	}
	if errs.Len() > 0 {
		return fakehost.Result{Stdout: out.String(), Stderr: errs.String(), Code: 1}
	}
	return fakehost.OK(out.String())
}

// systemctl records enable [--now] and accepts daemon-reload; it stands in
// where no engine fake of systemctl is registered.
func (s *State) systemctl(args []string) fakehost.Result {
	if len(args) == 0 {
		return fakehost.Fail(1, "fake systemctl: no verb\n")
	}
	switch args[0] {
	case "daemon-reload":
		return fakehost.OK("")
	case "enable":
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "-") {
				continue
			}
			if !has(s.Enabled, a) {
				s.Enabled = append(s.Enabled, a)
			}
		}
		return fakehost.OK("")
	}
	return fakehost.Fail(1, "fake systemctl: unsupported verb "+args[0]+"\n")
}

// nvidiaModprobe is nvidia-modprobe(1) as NVIDIA/nvidia-modprobe runs it
// (at 149440c): main (nvidia-modprobe.c) with -u loads nvidia-uvm and makes
// /dev/nvidia-uvm and /dev/nvidia-uvm-tools for each -c minor
// (nvidia_uvm_mknod: minor and minor+1, major read from /proc/devices);
// without -u it loads nvidia and makes /dev/nvidiaN for each -c N, N=255
// being /dev/nvidiactl (nvidia-modprobe-utils.h assign_device_file_name,
// NV_CTL_DEVICE_NUM); -m then loads nvidia-modeset and makes
// /dev/nvidia-modeset. Nothing is made that no -c asked for. Loading is
// modprobe_helper: success when the module is already loaded; otherwise
// fails without NVIDIA PCI display devices, else runs modprobe with its
// output silenced and succeeds iff the module is loaded afterwards. Every
// failure is silent and exits 1 (main returns !ret). The nodes are plain
// files in the root, as the lxc fake expects (it cannot mknod unprivileged),
// and vanish at Boot as a devtmpfs does. Not modelled: -s, -l, -f, -i, -a
// and the /dev/char symlinks. The driver ships the tool: without one it is
// not found.
func (f *Fake) nvidiaModprobe(s *State, args []string) fakehost.Result {
	if s.Driver == nil {
		return fakehost.Fail(127, "nvidia-modprobe: command not found\n")
	}
	var minors []int
	uvm, modeset := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-u" || a == "--unified-memory":
			uvm = true
		case a == "-m" || a == "--modeset":
			modeset = true
		case strings.HasPrefix(a, "-c") || strings.HasPrefix(a, "--create-nvidia-device-file"):
			v := strings.TrimPrefix(strings.TrimPrefix(a, "--create-nvidia-device-file"), "-c")
			v = strings.TrimPrefix(v, "=")
			if v == "" && i+1 < len(args) {
				i++
				v = args[i]
			}
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				return fakehost.Fail(1, "ERROR: Invalid commandline, please run `nvidia-modprobe --help` for usage information.\n\n")
			}
			minors = append(minors, n)
		default:
			return fakehost.Fail(1, "ERROR: Invalid commandline, please run `nvidia-modprobe --help` for usage information.\n\n")
		}
	}
	load := func(m string) bool {
		if _, ok := s.Loaded[m]; ok {
			return true
		}
		if s.nvidiaGPUs() == 0 {
			return false
		}
		_ = s.insert(m) // modprobe's own message goes to /dev/null
		_, ok := s.Loaded[m]
		return ok
	}
	mknod := func(name string) bool {
		if f.RootDir == "" {
			return true
		}
		p := filepath.Join(f.RootDir, "dev", name)
		return os.MkdirAll(filepath.Dir(p), 0o755) == nil && os.WriteFile(p, nil, 0o666) == nil
	}
	fail := fakehost.Result{Code: 1}
	if uvm {
		if !load("nvidia_uvm") {
			return fail
		}
		for range minors { // the minor numbers the node, not its name
			if !mknod("nvidia-uvm") || !mknod("nvidia-uvm-tools") {
				return fail
			}
		}
	} else {
		if !load("nvidia") {
			return fail
		}
		for _, n := range minors {
			name := fmt.Sprintf("nvidia%d", n)
			switch {
			case n == 255:
				name = "nvidiactl"
			case n < 0 || n > 255:
				return fail
			}
			if !mknod(name) {
				return fail
			}
		}
	}
	if modeset && (!load("nvidia_modeset") || !mknod("nvidia-modeset")) {
		return fail
	}
	return fakehost.OK("")
}
