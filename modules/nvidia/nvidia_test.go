package nvidia

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

func TestDetectGPUs(t *testing.T) {
	dev := func(vendor, class string) map[string]string {
		return map[string]string{"vendor": vendor + "\n", "class": class + "\n"}
	}
	tests := []struct {
		name    string
		devices map[string]map[string]string
		vfio    []string
		want    []string
		host    int
	}{
		{"none", nil, nil, nil, 0},
		{"vga and its audio function", map[string]map[string]string{
			"0000:01:00.0": dev("0x10de", "0x030000"), "0000:01:00.1": dev("0x10de", "0x040300")}, nil, []string{"0000:01:00.0"}, 1},
		{"3D controller", map[string]map[string]string{"0000:41:00.0": dev("0x10de", "0x030200")}, nil, []string{"0000:41:00.0"}, 1},
		{"other vendors", map[string]map[string]string{
			"0000:00:02.0": dev("0x8086", "0x030000"), "0000:03:00.0": dev("0x1002", "0x030000")}, nil, nil, 0},
		{"one passed through to a VM", map[string]map[string]string{
			"0000:01:00.0": dev("0x10de", "0x030000"), "0000:02:00.0": dev("0x10de", "0x030000")},
			[]string{"0000:02:00.0"}, []string{"0000:01:00.0", "0000:02:00.0"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := host.NewDirRoot(t.TempDir())
			if err := r.MkdirAll(PCIDevices, 0o755, host.Owner{}); err != nil {
				t.Fatal(err)
			}
			for addr, files := range tt.devices {
				for f, c := range files {
					writeFile(t, r.Path(PCIDevices+"/"+addr+"/"+f), []byte(c))
				}
			}
			for _, addr := range tt.vfio {
				if err := os.Symlink("../../../bus/pci/drivers/vfio-pci", r.Path(PCIDevices+"/"+addr+"/driver")); err != nil {
					t.Fatal(err)
				}
			}
			gpus, err := DetectGPUs(r)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range gpus {
				got = append(got, g.Addr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GPUs %v, want %v", got, tt.want)
			}
			if n := len(hostGPUs(gpus)); n != tt.host {
				t.Errorf("host GPUs %d, want %d", n, tt.host)
			}
		})
	}
}

func TestParseDKMS(t *testing.T) {
	tests := []struct {
		line string
		want []dkmsEntry
	}{
		{"nvidia/580.76.05, 6.8.12-4-pve, x86_64: installed\n", []dkmsEntry{{"nvidia", "580.76.05", "6.8.12-4-pve", "installed"}}},
		{"nvidia, 470.256.02, 6.2.16-3-pve, x86_64: installed\n", []dkmsEntry{{"nvidia", "470.256.02", "6.2.16-3-pve", "installed"}}},
		{"nvidia-current/535.247.01: added\n", []dkmsEntry{{"nvidia-current", "535.247.01", "", "added"}}},
		{"zfs/2.2.6, 6.8.12-4-pve, x86_64: installed (WARNING! Diff between built and installed module!)\n",
			[]dkmsEntry{{"zfs", "2.2.6", "6.8.12-4-pve", "installed"}}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := parseDKMS([]byte(tt.line)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseDKMS(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestDevicesParse(t *testing.T) {
	tests := []struct {
		name, devices string
		want          map[string]int
	}{
		{"current", "Character devices:\n  1 mem\n195 nvidia-frontend\n234 nvidia-nvlink\n237 nvidia-uvm\n238 nvidia-caps\n\nBlock devices:\n  8 sd\n195 nvidiafake-block\n",
			map[string]int{"nvidia-frontend": 195, "nvidia-nvlink": 234, "nvidia-uvm": 237, "nvidia-caps": 238}},
		// Some drivers name the 195 major plainly "nvidia": kept as is.
		{"legacy name", "Character devices:\n195 nvidia\n511 nvidia-uvm\n", map[string]int{"nvidia": 195, "nvidia-uvm": 511}},
		{"no driver", "Character devices:\n  1 mem\n\nBlock devices:\n", map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := host.NewDirRoot(t.TempDir())
			writeFile(t, r.Path(ProcDevices), []byte(tt.devices))
			got, err := Devices(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Devices = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNoGPU: no GPU is a skip with a note, or a clear failure when the seed
// requires one.
func TestNoGPU(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 0, debV))
	s := runfileSeed(v1, url1)
	res := r.mustFinish(s)
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "no NVIDIA GPU found") || len(res.Changed) != 0 {
		t.Errorf("result %+v, want one 'no NVIDIA GPU found' note and no change", res)
	}
	if len(r.run.Calls()) != 0 {
		t.Errorf("ran commands without a GPU:\n%s", r.run.Log())
	}
	if todo := r.check(s); len(todo) != 0 {
		t.Errorf("Check = %q, want converged", todo)
	}
	s.NVIDIA.RequireGPU = true
	if _, err := r.apply(s); err == nil || !strings.Contains(err.Error(), "require_gpu") {
		t.Errorf("require_gpu without GPU: err %v, want a require_gpu error", err)
	}
}

// TestRunfileTwoReboots is the whole flow: nouveau loaded (reboot 1), a
// module that cannot be inserted live (reboot 2), then verify. The call log
// is golden.
func TestRunfileTwoReboots(t *testing.T) {
	st := fake.NewState(kernel, 2, debV)
	st.LoadNeedsReboot = true
	st.UVMMajor = 237 // dynamic: anything but the 243 bash assumed
	r := newRig(t, st)
	s := runfileSeed(v1, url1)

	if todo := r.check(s); len(todo) == 0 {
		t.Fatal("Check on a fresh host: want changes")
	}
	res := r.mustReboot(s)
	if !strings.Contains(res.Reason, "nouveau") {
		t.Errorf("first reboot reason %q, want nouveau", res.Reason)
	}
	if p := r.progress(); p.Phase != PhasePrepare || p.Reboots[PhasePrepare] != 1 {
		t.Errorf("after reboot request 1: %+v (recorded before the reboot)", p)
	}
	if got, _ := os.ReadFile(r.root.Path(BlacklistFile)); string(got) != blacklistConf {
		t.Errorf("%s = %q", BlacklistFile, got)
	}
	r.boot()
	if _, ok := r.state().Loaded["nouveau"]; ok {
		t.Fatal("fake: nouveau still loaded after blacklist + initramfs + boot")
	}
	res = r.mustReboot(s)
	if !strings.Contains(res.Reason, "Device or resource busy") {
		t.Errorf("second reboot reason %q", res.Reason)
	}
	if p := r.progress(); p.Phase != PhaseInstall || p.Reboots[PhaseInstall] != 1 {
		t.Errorf("after reboot request 2: %+v", p)
	}
	r.boot()
	res = r.mustFinish(s)
	if p := r.progress(); p.Phase != PhaseDone || !p.Persistenced || len(p.Reboots) != 0 {
		t.Errorf("done: %+v", p)
	}
	var devs map[string]int
	if _, err := r.store.Get(KeyDevices, &devs); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"nvidia-frontend": 195, "nvidia-uvm": 237, "nvidia-caps": 509}; !reflect.DeepEqual(devs, want) {
		t.Errorf("%s = %v, want %v", KeyDevices, devs, want)
	}
	var ver string
	if _, err := r.store.Get(KeyVersion, &ver); err != nil || ver != v1 {
		t.Errorf("%s = %q (%v), want %s", KeyVersion, ver, err, v1)
	}
	if b, err := os.ReadFile(r.root.Path(PersistencedUnit)); err != nil || !strings.Contains(string(b), "ExecStart=/usr/bin/nvidia-persistenced") {
		t.Errorf("persistenced unit for a runfile install: %q %v", b, err)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "nvidia-uvm major 237") {
		t.Errorf("notes %q", res.Notes)
	}
	testkit.Golden(t, "runfile_two_reboots.log", testkit.Scrub(r.run.Log(), r.root))

	// Converged: Check is empty, a rerun changes nothing and writes nothing.
	if todo := r.check(s); len(todo) != 0 {
		t.Errorf("Check after convergence = %q", todo)
	}
	before := snapshot(t, r.root)
	res = r.mustFinish(s)
	if len(res.Changed) != 0 {
		t.Errorf("rerun changed %q", res.Changed)
	}
	for p, mt := range snapshot(t, r.root) {
		if !before[p].Equal(mt) {
			t.Errorf("rerun rewrote %s", p)
		}
	}
}

// snapshot is the modification time of every file under the root.
func snapshot(t *testing.T, r *host.DirRoot) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	filepath.Walk(r.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasPrefix(p, r.Path("/sys")) && !strings.HasPrefix(p, r.Path("/proc")) {
			m[p] = fi.ModTime()
		}
		return nil
	})
	return m
}

// TestNoThirdReboot: a module that never loads fails after its one reboot,
// with a clear error and no further reboot.
func TestNoThirdReboot(t *testing.T) {
	st := fake.NewState(kernel, 1, debV)
	st.Broken = true
	r := newRig(t, st)
	s := runfileSeed(v1, url1)
	r.mustReboot(s) // nouveau
	r.boot()
	res := r.mustReboot(s) // module refused live
	if !strings.Contains(res.Reason, "Exec format error") {
		t.Errorf("reason %q", res.Reason)
	}
	r.boot()
	res, err := r.apply(s)
	if err == nil || res.Reboot {
		t.Fatalf("after the second reboot: res %+v err %v, want an error and no reboot", res, err)
	}
	for _, want := range []string{"still does not load after a reboot", "Exec format error", "not rebooting again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// And it stays that way: still no reboot on a later run.
	if res, err := r.apply(s); err == nil || res.Reboot {
		t.Errorf("rerun: res %+v err %v", res, err)
	}
	if p := r.progress(); p.Reboots[PhasePrepare] != 1 || p.Reboots[PhaseInstall] != 1 || p.Phase != PhaseInstall {
		t.Errorf("progress %+v, want one reboot per phase, stuck in install", p)
	}
}

// TestNouveauStillLoaded: the prepare phase reboots once only.
func TestNouveauStillLoaded(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	s := runfileSeed(v1, url1)
	r.mustReboot(s)
	r.set(func(st *fake.State) { st.Initramfs = nil }) // something undid the blacklist
	r.boot()
	_, err := r.apply(s)
	if err == nil || !strings.Contains(err.Error(), "nouveau is still loaded") || !strings.Contains(err.Error(), "not rebooting again") {
		t.Fatalf("err %v", err)
	}
}

// TestSameBootAsksAgain: a rerun before the reboot happened (the engine
// stopped first) asks for the same reboot, not a second one.
func TestSameBootAsksAgain(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	s := runfileSeed(v1, url1)
	r.mustReboot(s)
	r.mustReboot(s)
	if p := r.progress(); p.Reboots[PhasePrepare] != 1 || p.RebootBoot != r.state().BootID() {
		t.Errorf("progress %+v, want 1 reboot for prepare asked in this boot", p)
	}
	if n := r.converge(s); n != 1 {
		t.Errorf("%d more reboots, want 1", n)
	}
}

func TestSecureBoot(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rig)
		fail  bool
	}{
		{"legacy BIOS", func(r *rig) {}, false},
		{"EFI variable on", func(r *rig) {
			writeFile(r.t, r.root.Path(SecureBootVar), []byte{6, 0, 0, 0, 1})
		}, true},
		{"EFI variable off", func(r *rig) {
			writeFile(r.t, r.root.Path(SecureBootVar), []byte{6, 0, 0, 0, 0})
		}, false},
		{"mokutil on", func(r *rig) {
			os.MkdirAll(r.root.Path(EFIDir), 0o755)
			r.set(func(s *fake.State) { s.SecureBoot = true })
		}, true},
		{"mokutil off", func(r *rig) { os.MkdirAll(r.root.Path(EFIDir), 0o755) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, fake.NewState(kernel, 1, debV))
			tt.setup(r)
			s := runfileSeed(v1, url1)
			res, err := r.apply(s)
			if !tt.fail {
				if err != nil || !res.Reboot {
					t.Fatalf("res %+v err %v", res, err)
				}
				r.boot()
				_, err = r.apply(s)
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Secure Boot is enabled") || !strings.Contains(err.Error(), "sign") {
				t.Fatalf("err %v, want a Secure Boot / module signing error", err)
			}
			if res.Reboot || r.state().Driver != nil || strings.Contains(r.run.Log(), "apt-get") {
				t.Errorf("acted under Secure Boot (reboot %v):\n%s", res.Reboot, r.run.Log())
			}
		})
	}
}

func TestPackages(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	s := packagesSeed("535.247.01")
	if n := r.converge(s); n != 1 {
		t.Errorf("%d reboots, want 1 (nouveau)", n)
	}
	st := r.state()
	if st.Driver == nil || st.Driver.Method != "packages" || st.Driver.Version != "535.247.01" {
		t.Fatalf("driver %+v", st.Driver)
	}
	if _, ok := st.Installed["nvidia-persistenced"]; !ok || !reflect.DeepEqual(st.Enabled, []string{"nvidia-persistenced.service"}) {
		t.Errorf("persistenced: installed %v enabled %v", st.Installed, st.Enabled)
	}
	if host.Exists(r.root, PersistencedUnit) {
		t.Error("wrote a unit although the package ships one")
	}
	if todo := r.check(s); len(todo) != 0 {
		t.Errorf("Check = %q", todo)
	}
}

func TestPackagesErrors(t *testing.T) {
	tests := []struct {
		name    string
		version string
		deb     string
		want    string
	}{
		{"other version in apt", "550.54.14", debV, "apt offers nvidia-driver " + debV},
		{"non-free not enabled", "535.247.01", "", "enable the non-free"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, fake.NewState(kernel, 1, tt.deb))
			s := packagesSeed(tt.version)
			r.mustReboot(s)
			r.boot()
			if _, err := r.apply(s); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestUpgrade: a reseed with a new version removes the old driver and
// installs the new one; the old module in use needs one reboot.
func TestUpgrade(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	r.converge(runfileSeed(v1, url1))
	r.set(func(s *fake.State) { s.InUse = true }) // persistenced holds it
	s2 := runfileSeed(v2, url2)
	res := r.mustReboot(s2)
	if !strings.Contains(res.Reason, "old nvidia module "+v1) {
		t.Errorf("reason %q", res.Reason)
	}
	if !strings.Contains(strings.Join(res.Changed, "\n"), "remove the earlier runfile driver") {
		t.Errorf("changed %q", res.Changed)
	}
	r.boot()
	r.mustFinish(s2)
	st := r.state()
	if st.Driver.Version != v2 || st.Loaded["nvidia"] != v2 || len(st.DKMS) != 1 {
		t.Errorf("after upgrade: driver %+v loaded %v dkms %v", st.Driver, st.Loaded, st.DKMS)
	}
	var ver string
	r.store.Get(KeyVersion, &ver)
	if ver != v2 {
		t.Errorf("recorded version %q", ver)
	}

	// Switching to the Debian packages removes the runfile install first.
	r.set(func(s *fake.State) { s.InUse = false })
	s3 := packagesSeed("535.247.01")
	r.converge(s3)
	st = r.state()
	if st.Driver.Method != "packages" || host.Exists(r.root, Uninstaller) || st.Loaded["nvidia"] != "535.247.01" {
		t.Errorf("after switch: driver %+v loaded %v", st.Driver, st.Loaded)
	}
	// And back to a runfile purges the packages.
	r.converge(runfileSeed(v1, url1))
	st = r.state()
	if _, ok := st.Installed["nvidia-driver"]; ok || st.Driver.Method != "runfile" {
		t.Errorf("after switch back: installed %v driver %+v", st.Installed, st.Driver)
	}
}

func TestRunfileSources(t *testing.T) {
	t.Run("sha mismatch", func(t *testing.T) {
		r := newRig(t, fake.NewState(kernel, 1, debV))
		s := runfileSeed(v1, url1)
		s.NVIDIA.Runfile.SHA256 = strings.Repeat("0", 64)
		r.mustReboot(s)
		r.boot()
		_, err := r.apply(s)
		if err == nil || !strings.Contains(err.Error(), "refusing to run it") {
			t.Fatalf("err %v", err)
		}
		if r.state().Driver != nil || strings.Contains(r.run.Log(), "sh ") {
			t.Errorf("ran a runfile that failed verification:\n%s", r.run.Log())
		}
		if ents, _ := os.ReadDir(r.root.Path(CacheDir)); len(ents) != 0 {
			t.Errorf("left %d files in the cache", len(ents))
		}
	})
	t.Run("bundle", func(t *testing.T) {
		r := newRig(t, fake.NewState(kernel, 1, debV))
		writeFile(t, filepath.Join(r.bundle, "drivers/nv.run"), fake.Runfile(v1))
		s := runfileSeed(v1, "")
		s.NVIDIA.Runfile = &seed.Runfile{File: "drivers/nv.run", SHA256: shaOf(fake.Runfile(v1)), Flags: []string{"--no-opengl-files"}}
		r.converge(s)
		if strings.Contains(r.run.Log(), "curl") {
			t.Error("downloaded although the bundle has the runfile")
		}
		if !strings.Contains(r.run.Log(), "--accept-license --no-opengl-files") {
			t.Errorf("seed flags not passed:\n%s", r.run.Log())
		}
	})
	t.Run("cached download", func(t *testing.T) {
		r := newRig(t, fake.NewState(kernel, 1, debV))
		s := runfileSeed(v1, url1)
		r.converge(s)
		// The driver is removed behind Phoenix's back: reinstall from the
		// cache without downloading again.
		r.set(func(st *fake.State) { st.Driver, st.DKMS, st.Loaded = nil, nil, map[string]string{} })
		os.Remove(r.root.Path(Uninstaller))
		r.run.Reset()
		r.converge(s)
		if strings.Contains(r.run.Log(), "curl") || !strings.Contains(r.run.Log(), "sh $ROOT/var/lib/phoenix/cache/NVIDIA-Linux-x86_64-580.76.05.run") && !strings.Contains(testkit.Scrub(r.run.Log(), r.root), "sh $ROOT/var/lib/phoenix/cache/NVIDIA-Linux-x86_64-580.76.05.run") {
			t.Errorf("reinstall:\n%s", testkit.Scrub(r.run.Log(), r.root))
		}
	})
	t.Run("download fails", func(t *testing.T) {
		r := newRig(t, fake.NewState(kernel, 1, debV))
		s := runfileSeed(v1, "https://example.invalid/missing.run")
		r.mustReboot(s)
		r.boot()
		if _, err := r.apply(s); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("not an URL", func(t *testing.T) {
		r := newRig(t, fake.NewState(kernel, 1, debV))
		// The seed's rule (seed/nvidia.go) refuses it before any command.
		s := runfileSeed(v1, "--config=/etc/shadow")
		if _, err := r.apply(s); err == nil || !strings.Contains(err.Error(), "is not an http(s) URL") {
			t.Fatalf("err %v", err)
		}
		if calls := r.run.Calls(); len(calls) != 0 {
			t.Errorf("ran %d commands before refusing the URL", len(calls))
		}
	})
}

func TestHeadersFallback(t *testing.T) {
	st := fake.NewState(kernel, 1, debV)
	delete(st.Available, "proxmox-headers-"+kernel)
	st.Available["linux-headers-"+kernel] = "6.8.12-4"
	r := newRig(t, st)
	r.converge(runfileSeed(v1, url1))
	if _, ok := r.state().Installed["linux-headers-"+kernel]; !ok {
		t.Errorf("installed %v, want linux-headers-%s", r.state().Installed, kernel)
	}

	st = fake.NewState(kernel, 1, debV)
	delete(st.Available, "proxmox-headers-"+kernel)
	r = newRig(t, st)
	_, err := r.apply(runfileSeed(v1, url1))
	if err == nil || !strings.Contains(err.Error(), "no kernel headers for the running kernel") {
		t.Fatalf("err %v", err)
	}
}

// TestKernelUpdate: after a kernel update the installed driver is rebuilt
// for the new kernel through DKMS, without reinstalling.
func TestKernelUpdate(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	s := runfileSeed(v1, url1)
	r.converge(s)
	const k2 = "6.8.12-9-pve"
	r.set(func(st *fake.State) {
		st.Kernel = k2
		st.Available["proxmox-headers-"+k2] = "1.0"
	})
	r.boot() // the old build does not load on the new kernel
	r.run.Reset()
	if n := r.converge(s); n != 0 {
		t.Errorf("%d reboots", n)
	}
	log := r.run.Log()
	if !strings.Contains(log, "dkms install -m nvidia -v "+v1+" -k "+k2) || strings.Contains(log, "sh ") {
		t.Errorf("want a DKMS rebuild and no reinstall:\n%s", log)
	}
}

// TestAptFailure: a failing apt is an error naming the command and its
// stderr, not a hang (the retries and backoff are the apt helper's).
func TestAptFailure(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	r.mod.Apt = func(run host.Runner) *apt.Client {
		c := apt.New(run)
		c.Sleep = func(context.Context, time.Duration) error { return nil }
		return c
	}
	r.run.Script("apt-get", fakehostFail(100, "E: Could not get lock /var/lib/dpkg/lock-frontend\n"))
	_, err := r.apply(runfileSeed(v1, url1))
	if err == nil || !strings.Contains(err.Error(), "Could not get lock") || !strings.Contains(err.Error(), "prerequisites: ") {
		t.Fatalf("err %v", err)
	}
}

// TestBlacklistRestored: a blacklist removed by hand is written again and
// the initramfs rebuilt with it.
func TestBlacklistRestored(t *testing.T) {
	r := newRig(t, fake.NewState(kernel, 1, debV))
	s := runfileSeed(v1, url1)
	r.converge(s)
	if err := os.Remove(r.root.Path(BlacklistFile)); err != nil {
		t.Fatal(err)
	}
	r.set(func(st *fake.State) { st.Initramfs = nil }) // and the admin rebuilt it
	if todo := r.check(s); !reflect.DeepEqual(todo, []string{"blacklist nouveau in " + BlacklistFile, "rebuild the initramfs without nouveau"}) {
		t.Errorf("Check = %q", todo)
	}
	r.run.Reset()
	r.mustFinish(s)
	if !strings.Contains(r.run.Log(), "update-initramfs -u") || !reflect.DeepEqual(r.state().Initramfs, []string{"nouveau"}) {
		t.Errorf("initramfs not rebuilt:\n%s", r.run.Log())
	}
}

// TestCheckFresh: what plan shows on a fresh GPU host: this boot's
// changes up to the reboot Apply asks for, the same list Apply then makes
// (the contract); with Secure Boot on, plan refuses as Apply would, before
// anything is installed.
func TestCheckFresh(t *testing.T) {
	st := fake.NewState(kernel, 2, debV)
	r := newRig(t, st)
	got := r.check(runfileSeed(v1, url1))
	want := []string{
		"install proxmox-headers-" + kernel + " build-essential dkms proxmox-default-headers",
		"blacklist nouveau in " + BlacklistFile,
		"rebuild the initramfs without nouveau",
		"reboot: nouveau is loaded; it is blacklisted now and goes away with a reboot",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check = %q\nwant %q", got, want)
	}
	r.set(func(st *fake.State) { st.SecureBoot = true })
	os.MkdirAll(r.root.Path(EFIDir), 0o755)
	if _, err := modules.Check(context.Background(), r.mod, r.env(runfileSeed(v1, url1))); err == nil || !strings.Contains(err.Error(), "Secure Boot is enabled") {
		t.Errorf("Check under Secure Boot: %v", err)
	}
	for _, c := range r.run.Calls() {
		if c.Name == "apt-get" || c.Name == "modprobe" || c.Name == "update-initramfs" {
			t.Errorf("Check ran %s", c.String())
		}
	}
}

// TestKernelUpgradeAfterPhoenix: Phoenix installs the headers meta package
// (proxmox-default-headers) with the driver, so a kernel upgrade long after
// Phoenix disabled itself brings the new kernel's headers, DKMS's kernel
// hook rebuilds the driver for it, and after the reboot into it the driver
// is loaded, nvidia-smi works and the device majors the containers' devN
// entries were set up for are unchanged. Without the meta package the same
// upgrade leaves the new kernel without a driver: the fake is strict
// enough to tell.
func TestKernelUpgradeAfterPhoenix(t *testing.T) {
	const k2 = "6.14.8-2-pve"
	for _, withMeta := range []bool{true, false} {
		t.Run(fmt.Sprintf("meta=%v", withMeta), func(t *testing.T) {
			st := fake.NewState(kernel, 1, debV)
			if !withMeta {
				delete(st.Available, fake.MetaHeaders)
			}
			r := newRig(t, st)
			s := runfileSeed(v1, url1)
			res, err := r.apply(s) // phase 1: prerequisites, then a reboot for nouveau
			if err != nil {
				t.Fatal(err)
			}
			r.boot()
			if r.converge(s); withMeta {
				if _, ok := r.state().Installed[fake.MetaHeaders]; !ok {
					t.Fatalf("installed %v, want %s", r.state().Installed, fake.MetaHeaders)
				}
			} else if !strings.Contains(strings.Join(res.Notes, "\n"), "no kernel headers meta package") {
				t.Errorf("notes %q: want the missing meta package said", res.Notes)
			}
			majors := r.read("/proc/devices")

			// Phoenix is done; the admin upgrades and reboots.
			r.set(func(st *fake.State) { st.UpgradeKernel(k2) })
			r.boot()
			got := r.state()
			if got.Kernel != k2 {
				t.Fatalf("running %s, want %s", got.Kernel, k2)
			}
			if !withMeta {
				if _, ok := got.Loaded["nvidia"]; ok {
					t.Error("driver loaded on the new kernel without its headers: the fake proves nothing")
				}
				return
			}
			if got.Loaded["nvidia"] != v1 {
				t.Errorf("loaded %v, want nvidia %s on %s", got.Loaded, v1, k2)
			}
			// nvidia-uvm comes up at boot too (modules-load.d), and the
			// device nodes the containers' devN entries name are made by
			// the rules and the oneshot unit, which do not depend on the
			// kernel: they are in place and enabled on the new one.
			if _, ok := got.Loaded["nvidia_uvm"]; !ok {
				t.Errorf("nvidia-uvm not loaded on %s: %v", k2, got.Loaded)
			}
			if !strings.Contains(r.read(NodesRules), "nvidia-modprobe -c0 -u") || !slices.Contains(got.Enabled, path.Base(NodesUnit)) {
				t.Errorf("device node rules/unit missing after the upgrade: rules %q, enabled %v", r.read(NodesRules), got.Enabled)
			}
			if _, ok := got.Installed["proxmox-headers-"+k2]; !ok {
				t.Errorf("no headers for %s: %v", k2, got.Installed)
			}
			if r.read("/proc/devices") != majors {
				t.Errorf("device majors changed:\n%s\nwant\n%s", r.read("/proc/devices"), majors)
			}
			// nvidia-smi answers: the driver is usable without Phoenix.
			out, err := r.run.Run(context.Background(), host.Cmd{Name: "nvidia-smi", Args: []string{"--query-gpu=driver_version", "--format=csv,noheader"}})
			if err != nil || strings.TrimSpace(string(out.Stdout)) != v1 {
				t.Errorf("nvidia-smi: %q %v", out.Stdout, err)
			}
			// And Phoenix, if it ran again, would find nothing to do.
			r.run.Reset()
			if todo := r.check(s); len(todo) != 0 {
				t.Errorf("check after the upgrade: %q", todo)
			}
		})
	}
}
