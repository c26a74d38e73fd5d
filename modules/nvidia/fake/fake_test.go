package fake

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newFake(t *testing.T, s *State) *Fake {
	t.Helper()
	f := New(t.TempDir(), t.TempDir())
	if err := f.Save(s); err != nil {
		t.Fatal(err)
	}
	return f
}

type step struct {
	cmd    string
	args   string // split on blanks, or on | when it has one
	code   int
	stdout string // substring
	stderr string // substring
}

func run(t *testing.T, f *Fake, steps []step) {
	t.Helper()
	for _, s := range steps {
		args := strings.Fields(s.args)
		if strings.Contains(s.args, "|") {
			args = strings.Split(s.args, "|")
		}
		res := f.Run(s.cmd, args)
		if res.Code != s.code || !strings.Contains(res.Stdout, s.stdout) || !strings.Contains(res.Stderr, s.stderr) {
			t.Fatalf("%s %s: code %d stdout %q stderr %q; want %d, %q, %q", s.cmd, s.args, res.Code, res.Stdout, res.Stderr, s.code, s.stdout, s.stderr)
		}
	}
}

// TestInstallFlow follows the tools through a runfile install: the
// installer refuses nouveau and missing headers, the blacklist takes effect
// through the initramfs at boot, and the module then loads.
func TestInstallFlow(t *testing.T) {
	f := newFake(t, NewState("6.8.12-4-pve", 1, ""))
	rf := filepath.Join(t.TempDir(), "nv.run")
	if err := os.WriteFile(rf, Runfile("580.76.05"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, f, []step{
		{"nvidia-smi", "--query-gpu=driver_version --format=csv,noheader", 127, "", "command not found"},
		{"sh", rf + " --silent --dkms --accept-license", 1, "", "Nouveau kernel driver is currently in use"},
		{"modprobe", "nvidia", 1, "", "Module nvidia not found in directory /lib/modules/6.8.12-4-pve"},
		{"mokutil", "--sb-state", 0, "SecureBoot disabled", ""},
	})
	os.MkdirAll(filepath.Join(f.RootDir, "etc/modprobe.d"), 0o755)
	os.WriteFile(filepath.Join(f.RootDir, "etc/modprobe.d/x.conf"), []byte("blacklist nouveau\n"), 0o644)
	run(t, f, []step{{"update-initramfs", "-u", 0, "Generating /boot/initrd.img-6.8.12-4-pve", ""}})
	if !exists(f, "/sys/module/nouveau") {
		t.Fatal("nouveau not mirrored into /sys/module")
	}
	if err := f.Boot(); err != nil {
		t.Fatal(err)
	}
	if exists(f, "/sys/module/nouveau") {
		t.Fatal("nouveau loaded after blacklist + initramfs + boot")
	}
	run(t, f, []step{
		{"sh", rf + " --silent --dkms --accept-license", 1, "", "Unable to find the kernel source tree"},
		{"apt-get", "-y install proxmox-headers-6.8.12-4-pve dkms", 0, "", ""},
		{"dpkg-query", "-W|-f=${Package}:${Architecture} ${db:Status-Abbrev}\n|dkms|nvidia-driver", 1, "dkms:amd64 ii ", "no packages found matching nvidia-driver"},
		{"sh", rf + " --silent --dkms --accept-license", 0, "is now complete", ""},
		{"dkms", "status", 0, "nvidia/580.76.05, 6.8.12-4-pve, x86_64: installed\n", ""},
		{"nvidia-smi", "--query-gpu=driver_version --format=csv,noheader", 9, "couldn't communicate with the NVIDIA driver", ""},
		{"modprobe", "nvidia-uvm", 0, "", ""},
		{"nvidia-smi", "--query-gpu=driver_version --format=csv,noheader", 0, "580.76.05\n", ""},
		{"modprobe", "-r nvidia", 1, "", "Module nvidia is in use"},
	})
	b, _ := os.ReadFile(filepath.Join(f.RootDir, "proc/devices"))
	if !strings.Contains(string(b), "195 nvidia-frontend\n508 nvidia-uvm\n509 nvidia-caps\n") {
		t.Errorf("/proc/devices:\n%s", b)
	}
	if v, _ := os.ReadFile(filepath.Join(f.RootDir, "sys/module/nvidia/version")); string(v) != "580.76.05\n" {
		t.Errorf("/sys/module/nvidia/version = %q", v)
	}
	run(t, f, []step{
		{"nvidia-uninstall", "--silent", 0, "complete", ""},
		// The old module stays loaded until unloaded: userspace is gone.
		{"nvidia-smi", "--query-gpu=driver_version --format=csv,noheader", 127, "", ""},
		{"curl", "-fsSL --retry 3 -o /dev/null https://example.com/missing.run", 22, "", "404"},
	})
	if exists(f, "/usr/bin/nvidia-uninstall") {
		t.Error("nvidia-uninstall left behind")
	}
}

func TestPackagesAndMismatch(t *testing.T) {
	s := NewState("6.8.12-4-pve", 2, "535.247.01-1~deb12u1")
	s.Installed["dkms"], s.Installed["proxmox-headers-6.8.12-4-pve"] = "1", "1"
	delete(s.Loaded, "nouveau")
	f := newFake(t, s)
	run(t, f, []step{
		{"apt-cache", "policy nvidia-driver nosuch", 0, "nvidia-driver:\n  Installed: (none)\n  Candidate: 535.247.01-1~deb12u1\n", ""},
		{"apt-get", "install nosuch", 100, "", "Unable to locate package nosuch"},
		{"apt-get", "-y -o X=1 install -- nvidia-driver", 0, "", ""},
		{"dkms", "status -m nvidia-current", 0, "nvidia-current/535.247.01, 6.8.12-4-pve, x86_64: installed", ""},
		{"modprobe", "nvidia", 0, "", ""},
		{"nvidia-smi", "--query-gpu=driver_version --format=csv,noheader", 0, "535.247.01\n535.247.01\n", ""},
	})
	// A new userspace with the old module loaded: NVML's mismatch error.
	if err := f.Update(func(s *State) { s.Driver.Version = "550.1" }); err != nil {
		t.Fatal(err)
	}
	run(t, f, []step{{"nvidia-smi", "--query-gpu=driver_version --format=csv,noheader", 18, "Driver/library version mismatch", ""}})
}

func exists(f *Fake, p string) bool {
	_, err := os.Stat(filepath.Join(f.RootDir, p))
	return err == nil
}
