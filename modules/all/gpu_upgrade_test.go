package all_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/lxc"
	lxcfake "github.com/phoenix-pve/phoenix/modules/lxc/fake"
	"github.com/phoenix-pve/phoenix/modules/nvidia"
	nvidiafake "github.com/phoenix-pve/phoenix/modules/nvidia/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

// TestGPUContainerAfterKernelUpgrade: the nvidia module (runfile) and a
// container with GPU passthrough (dev0..dev3 on PVE 9) provisioned on the
// fakes; then, with Phoenix long disabled (no module runs again), the admin
// upgrades the kernel and reboots. What brings the container back is only
// what Phoenix left on the host: the headers meta package pulls the new
// kernel's headers, DKMS's kernel hook rebuilds the driver, udev loads it,
// modules-load.d loads nvidia-uvm, and the oneshot unit Phoenix wrote
// (ordered Before=pve-guests.service) makes the /dev nodes by running its
// ExecStart lines through the fake nvidia-modprobe. Then pct start, whose
// devN check is pve-container's (src/PVE/LXC.pm:770-777 ->
// LXC/Tools.pm:157-165), succeeds. Without the meta package, or without the
// unit, the same start fails with Proxmox's message for the missing node.
func TestGPUContainerAfterKernelUpgrade(t *testing.T) {
	const (
		k1, k2 = "6.8.12-4-pve", "6.8.12-9-pve"
		ver    = "580.76.05"
		url    = "https://download.nvidia.com/XFree86/Linux-x86_64/580.76.05/NVIDIA-Linux-x86_64-580.76.05.run"
	)
	for _, tc := range []struct {
		name       string
		noMeta     bool // the archive has no headers meta package
		noUnit     bool // the node unit is gone after provisioning
		wantDenied string
	}{
		{name: "upgraded"},
		{name: "without-meta-package", noMeta: true, wantDenied: "Device /dev/nvidia0 does not exist"},
		{name: "without-node-unit", noUnit: true, wantDenied: "Device /dev/nvidia0 does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := host.NewDirRoot(t.TempDir())
			if err := root.MkdirAll("/dev", 0o755, host.Owner{}); err != nil {
				t.Fatal(err)
			}
			nv := nvidiafake.New(t.TempDir(), root.Dir())
			st := nvidiafake.NewState(k1, 1, "")
			st.Downloads = map[string]string{url: ver}
			if tc.noMeta {
				delete(st.Available, nvidiafake.MetaHeaders)
			}
			if err := nv.Save(st); err != nil {
				t.Fatal(err)
			}
			run := fakehost.New()
			nv.Register(run)
			pve := &lxcfake.PVE{Dir: t.TempDir(), Root: root.Dir(), Version: "9.1.2"}
			pve.Register(run)

			sum := sha256.Sum256(nvidiafake.Runfile(ver))
			s, err := seed.Load("seed.yaml", []byte(fmt.Sprintf(`
version: 1
nvidia:
  version: %q
  source: runfile
  runfile: {url: %q, sha256: %s}
lxc:
  defaults: {template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst, storage: local-zfs, bridge: vmbr0}
  containers:
    "901":
      hostname: gpu
      gpus: [0]
`, ver, url, hex.EncodeToString(sum[:]))))
			if err != nil {
				t.Fatal(err)
			}
			store := modules.NewStore(root)
			env := func() *modules.Env {
				cur, err := nv.Load()
				if err != nil {
					t.Fatal(err)
				}
				return &modules.Env{Seed: s, Runner: run, Root: root, Store: store, Bundle: t.TempDir(),
					BootID: cur.BootID(), Report: func(modules.Item) {}}
			}

			// Provisioning: the nvidia module across its reboots, then
			// what `systemctl enable --now` of the node unit does (the
			// fake systemctl only records the enable), then the container.
			done := false
			for boots := 0; boots < 4 && !done; boots++ {
				res, err := modules.Apply(ctx, nvidia.New(), env())
				if err != nil {
					t.Fatalf("nvidia: %v\n%s", err, run.Log())
				}
				if done = !res.Reboot; !done {
					if err := nv.Boot(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !done {
				t.Fatal("nvidia: no convergence after 4 boots")
			}
			if err := startUnit(ctx, root, run, nvidia.NodesUnit); err != nil {
				t.Fatalf("systemctl enable --now %s: %v", path.Base(nvidia.NodesUnit), err)
			}
			m := &lxc.Module{Sleep: func(context.Context, time.Duration) error { return nil }, WaitTries: 10}
			if _, err := modules.Apply(ctx, m, env()); err != nil {
				t.Fatalf("lxc: %v\n%s", err, run.Log())
			}
			conf, _ := root.ReadFile("/etc/pve/lxc/901.conf")
			for _, want := range []string{"dev0: /dev/nvidia0", "dev1: /dev/nvidiactl", "dev2: /dev/nvidia-uvm", "dev3: /dev/nvidia-uvm-tools"} {
				if !strings.Contains(string(conf), want+"\n") {
					t.Fatalf("901.conf lacks %q:\n%s", want, conf)
				}
			}
			if tc.noUnit {
				if err := root.Remove(nvidia.NodesUnit); err != nil {
					t.Fatal(err)
				}
			}

			// Phoenix is done. The admin runs apt full-upgrade and
			// reboots: pve-guests stops the container on the way down.
			pct(t, run, "stop", "901")
			if err := nv.Update(func(st *nvidiafake.State) { st.UpgradeKernel(k2) }); err != nil {
				t.Fatal(err)
			}
			if err := nv.Boot(); err != nil {
				t.Fatal(err)
			}
			got, err := nv.Load()
			if err != nil {
				t.Fatal(err)
			}
			if got.Kernel != k2 {
				t.Fatalf("running %s, want %s", got.Kernel, k2)
			}
			if host.Exists(root, "/dev/nvidia0") {
				t.Fatal("/dev/nvidia0 survived the reboot: the fake's /dev is not a devtmpfs")
			}
			// multi-user.target: the enabled units ordered before
			// pve-guests.service run first.
			unitErr := errors.New("not enabled")
			if slices.Contains(got.Enabled, path.Base(nvidia.NodesUnit)) {
				unitErr = startUnit(ctx, root, run, nvidia.NodesUnit)
			}
			// pve-guests.service: pct start.
			out, startErr := run.Run(ctx, host.Cmd{Name: "pct", Args: []string{"start", "901"}})
			got, _ = nv.Load()
			if tc.wantDenied != "" {
				msg := ""
				if startErr != nil {
					msg = startErr.Error()
				}
				if !strings.Contains(msg, tc.wantDenied) {
					t.Fatalf("pct start 901 = %v %q, want %q (unit: %v, loaded %v)", startErr, out.Stderr, tc.wantDenied, unitErr, got.Loaded)
				}
				t.Logf("as wanted, pct start 901: %s (node unit: %v)", strings.TrimSpace(msg), unitErr)
				return
			}
			if unitErr != nil {
				t.Fatalf("%s on %s: %v", path.Base(nvidia.NodesUnit), k2, unitErr)
			}
			if startErr != nil {
				t.Fatalf("pct start 901 on %s: %v\n%s", k2, startErr, run.Log())
			}
			if _, ok := got.Installed["proxmox-headers-"+k2]; !ok {
				t.Errorf("no headers for %s: %v", k2, got.Installed)
			}
			if !slices.ContainsFunc(got.DKMS, func(d nvidiafake.DKMS) bool { return d.Kernel == k2 && d.State == "installed" }) {
				t.Errorf("no DKMS module for %s: %+v", k2, got.DKMS)
			}
			if got.Loaded["nvidia"] != ver {
				t.Errorf("loaded %v, want nvidia %s", got.Loaded, ver)
			}
			for _, n := range []string{"nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"} {
				if !host.Exists(root, "/dev/"+n) {
					t.Errorf("/dev/%s missing on %s", n, k2)
				}
			}
			if st := pct(t, run, "status", "901"); st != "status: running\n" {
				t.Errorf("pct status 901 = %q", st)
			}
		})
	}
}

func pct(t *testing.T, run *fakehost.Runner, args ...string) string {
	t.Helper()
	out, err := run.Run(context.Background(), host.Cmd{Name: "pct", Args: args})
	if err != nil {
		t.Fatalf("pct %s: %v", strings.Join(args, " "), err)
	}
	return string(out.Stdout)
}

// startUnit is what systemd does at boot (or at enable --now) with a
// Type=oneshot unit from the root: it refuses a unit that is not pulled in
// by multi-user.target or not ordered before pve-guests.service (it would
// not be there in time for the onboot containers), then runs each
// ExecStart= in order and stops at the first that fails (systemd.service(5):
// "If more than one command is specified, the commands are invoked
// sequentially ... If one of the commands fails (and is not prefixed with
// "-"), other lines are not executed"). The words are split on blanks: the
// unit Phoenix writes has no quoting. The command is looked up by its base
// name, as the fakes are registered.
func startUnit(ctx context.Context, root host.Root, run *fakehost.Runner, unit string) error {
	b, err := root.ReadFile(unit)
	if err != nil {
		return err
	}
	var execs [][]string
	before, wanted := false, false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "Before":
			before = before || slices.Contains(strings.Fields(v), "pve-guests.service")
		case "WantedBy":
			wanted = wanted || slices.Contains(strings.Fields(v), "multi-user.target")
		case "ExecStart":
			execs = append(execs, strings.Fields(v))
		}
	}
	if !before || !wanted {
		return fmt.Errorf("%s: not started before pve-guests.service (Before=pve-guests.service %v, WantedBy=multi-user.target %v)", unit, before, wanted)
	}
	if len(execs) == 0 {
		return fmt.Errorf("%s: no ExecStart", unit)
	}
	for _, argv := range execs {
		ignore := strings.HasPrefix(argv[0], "-")
		name := strings.TrimLeft(argv[0], "-")
		if !path.IsAbs(name) {
			return fmt.Errorf("%s: ExecStart %q is not an absolute path", unit, name)
		}
		if _, err := run.Run(ctx, host.Cmd{Name: path.Base(name), Args: argv[1:]}); err != nil && !ignore {
			return fmt.Errorf("%s: %s: %w", unit, strings.Join(argv, " "), err)
		}
	}
	return nil
}
