package nvidia

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

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

// verify is phase 3: what containers need at every boot, the check of the
// result, and the facts recorded for LXC.
func (j *job) verify(ctx context.Context) (bool, error) {
	j.s.Say("nvidia 3/3: verifying")
	v := j.cfg.Version
	if !loaded(j.env.Root, "nvidia_uvm") {
		// Containers use CUDA through nvidia-uvm; its major exists only
		// once it is loaded.
		j.driverChange = true
		err := j.do(func() error {
			if msg, err := j.modprobe(ctx, "nvidia-uvm"); err != nil {
				return fmt.Errorf("load nvidia-uvm: %s: %w", msg, err)
			}
			return nil
		}, "load nvidia-uvm")
		if err != nil {
			return false, err
		}
	}
	// Without this nvidia-uvm is loaded only on first use: after a reboot
	// /dev/nvidia-uvm would be missing when containers start.
	if _, err := j.write(ModulesLoadFile, modulesLoadConf, "load nvidia and nvidia-uvm at boot (%s)", ModulesLoadFile); err != nil {
		return false, err
	}
	if j.cfg.Source == SourceRunfile {
		if err := j.nodes(ctx); err != nil {
			return false, err
		}
	}
	// What follows reads the installed driver; a dry run that listed its
	// install cannot, and takes it as working.
	if !j.pending() {
		vs, err := smiVersions(ctx, j.env.Runner)
		if err != nil {
			return false, fmt.Errorf("driver %s does not answer: %w", v, err)
		}
		if err := sameVersion(vs, v, len(j.gpus)); err != nil {
			return false, err
		}
	}
	if j.persistenced() && !j.p.Persistenced {
		if err := j.enablePersistenced(ctx); err != nil {
			return false, err
		}
	}
	if err := j.record(); err != nil {
		return false, err
	}
	// Done: the reboot bookkeeping has served its purpose (the engine's
	// marker keeps the count). What stays is what makes a rerun a no-op.
	j.p.Reboots, j.p.RebootBoot = map[string]int{}, ""
	return false, j.setPhase(PhaseDone)
}

// record stores the device majors and the version for the LXC module.
func (j *job) record() error {
	v := j.cfg.Version
	var devs map[string]int
	if !j.pending() {
		var err error
		if devs, err = Devices(j.env.Root); err != nil {
			return err
		}
		if _, ok := devs["nvidia-uvm"]; !ok || len(devs) < 2 {
			return fmt.Errorf("%s lists no nvidia-uvm and nvidia devices (%v) although the modules are loaded", ProcDevices, devs)
		}
		j.s.Note("driver %s on %d GPU(s); nvidia-uvm major %d", v, len(j.gpus), devs["nvidia-uvm"])
	}
	same := !j.pending()
	for _, kv := range []struct {
		key string
		v   any
	}{{KeyDevices, devs}, {KeyVersion, v}} {
		ok, err := stored(j.env.Store, kv.key, kv.v)
		if err != nil {
			return err
		}
		same = same && ok
	}
	if same {
		return nil
	}
	return j.do(func() error {
		if err := j.env.Store.Put(KeyDevices, devs); err != nil {
			return err
		}
		return j.env.Store.Put(KeyVersion, v)
	}, "record the nvidia device majors and version for the LXC module")
}

// stored reports whether key holds v already, so a rerun writes nothing.
func stored(s *modules.Store, key string, v any) (bool, error) {
	want, _ := json.Marshal(v)
	var old json.RawMessage
	found, err := s.Get(key, &old)
	if err != nil || !found {
		return false, err
	}
	var a, b any
	return json.Unmarshal(old, &a) == nil && json.Unmarshal(want, &b) == nil && fmt.Sprint(a) == fmt.Sprint(b), nil
}

// write writes p when its content differs, as one change, and reports
// whether it listed one.
func (j *job) write(p, content, format string, a ...any) (bool, error) {
	if b, err := j.env.Root.ReadFile(p); err == nil && string(b) == content {
		return false, nil
	}
	return true, j.do(func() error {
		return j.env.Root.WriteFile(p, []byte(content), 0o644, host.Owner{})
	}, format, a...)
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
	if _, err := j.write(NodesRules, rules, "make the device nodes at every boot (%s)", NodesRules); err != nil {
		return err
	}
	wrote, err := j.write(NodesUnit, unit, "write %s", NodesUnit)
	if err != nil {
		return err
	}
	// The store records the unit once it is enabled, so a run that
	// stopped between the write and the enable enables it next time.
	var enabled string
	if _, err := j.env.Store.Get(KeyNodes, &enabled); err != nil {
		return err
	}
	if !wrote && enabled == unit {
		return nil
	}
	return j.do(func() error {
		for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", path.Base(NodesUnit)}} {
			if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: args}); err != nil {
				return fmt.Errorf("device node unit: %w", err)
			}
		}
		return j.env.Store.Put(KeyNodes, unit)
	}, "make the device nodes before pve-guests.service (enable %s)", path.Base(NodesUnit))
}

func (j *job) enablePersistenced(ctx context.Context) error {
	if j.cfg.Source == SourcePackages {
		// Installed with the driver, unless persistenced was off then.
		if err := j.installMissing(ctx, "nvidia-persistenced"); err != nil {
			return err
		}
	}
	found := false
	for _, d := range unitDirs {
		found = found || host.Exists(j.env.Root, path.Join(d, "nvidia-persistenced.service"))
	}
	switch {
	case found:
	case j.cfg.Source == SourceRunfile:
		err := j.do(func() error {
			if err := j.env.Root.WriteFile(PersistencedUnit, []byte(persistencedUnit), 0o644, host.Owner{}); err != nil {
				return err
			}
			_, err := j.env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"daemon-reload"}})
			return err
		}, "write %s", PersistencedUnit)
		if err != nil {
			return err
		}
	case !j.pending():
		// A dry run that listed the package install takes the unit it
		// brings as there.
		return errors.New("nvidia-persistenced.service is missing although the nvidia-persistenced package is installed")
	}
	return j.do(func() error {
		if _, err := j.env.Runner.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"enable", "--now", "nvidia-persistenced.service"}}); err != nil {
			return fmt.Errorf("enable nvidia-persistenced: %w", err)
		}
		j.p.Persistenced = true
		return j.save()
	}, "enable nvidia-persistenced")
}
