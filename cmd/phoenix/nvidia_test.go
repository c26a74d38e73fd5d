package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
)

// The nvidia scripts (testdata/script/nvidia_*.txtar) run the real nvidia
// module through `phoenix run --root $WORK/root` against the stateful fake
// of modules/nvidia/fake: nvidia-smi, dkms, modprobe, mokutil,
// update-initramfs, curl, nvidia-uninstall, the runfile installer and the
// apt tools, all on PATH, sharing one state in $FAKE_STATE/nvidia and
// mirroring sysfs and /proc into $FAKE_ROOT. `nvidia-fake` sets the host up
// and simulates boots. systemctl is the engine's fake (engine_test.go); the
// runfile runs under the real sh and execs the fake installer.
func init() {
	names := append([]string{fake.ControlCommand}, fake.Commands...)
	for _, name := range names {
		if name == "sh" || name == "systemctl" {
			continue
		}
		if _, taken := testCommands[name]; taken {
			continue // another area's fake of the same tool (apt): keep it
		}
		name := name
		testCommands[name] = func() { os.Exit(fake.Main(name)) }
	}
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		if e.Getenv("FAKE_STATE") == "" {
			e.Setenv("FAKE_STATE", filepath.Join(e.WorkDir, "fake-state"))
		}
		if e.Getenv("FAKE_ROOT") == "" {
			e.Setenv("FAKE_ROOT", filepath.Join(e.WorkDir, "root"))
		}
		return nil
	})
}
