package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/zfs"
	"github.com/phoenix-pve/phoenix/modules/zfs/fake"
)

// The zfs scripts (testdata/script/zfs_*.txtar) run the real zfs module
// through `phoenix run --root $WORK/root` against the stateful fakes of
// zpool, zfs, lsblk, wipefs, sgdisk and udevadm on PATH, their state in
// $FAKE_STATE/zfs-world.json; `zfs-fake` sets the host up and simulates a
// reinstall. PHOENIX_TEST_ZFS=1 appends the real zfs module to the test
// modules of PHOENIX_TEST_MODULES.
func init() {
	for _, name := range append([]string{fake.ControlCommand}, fake.Commands...) {
		if _, taken := testCommands[name]; taken {
			continue
		}
		name := name
		testCommands[name] = func() { os.Exit(fake.Main(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
	}
	prev := engineModules
	engineModules = func() []modules.Module {
		ms := prev()
		if os.Getenv("PHOENIX_TEST_ZFS") != "" {
			ms = append(ms, zfs.New())
		}
		return ms
	}
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		if e.Getenv("FAKE_STATE") == "" {
			e.Setenv("FAKE_STATE", filepath.Join(e.WorkDir, "fake-state"))
		}
		return nil
	})
}
