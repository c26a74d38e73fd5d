package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/lxc"
	"github.com/phoenix-pve/phoenix/modules/lxc/fake"
)

// The lxc scripts (testdata/script/lxc_*.txtar) run the real lxc module
// against the stateful fakes of pct, pveam, pvesm and pveversion on PATH.
// Their container configs live in $FAKE_ROOT/etc/pve/lxc (the root the
// scripts pass with --root), their runtime state in $FAKE_STATE/pve.
// PHOENIX_TEST_LXC=1 appends the real lxc module to the test modules of
// PHOENIX_TEST_MODULES, so the host part stays small.
func init() {
	for _, name := range []string{"pct", "pveam", "pvesm", "pveversion"} {
		testCommands[name] = func() { os.Exit(fake.Main(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
	}
	prev := engineModules
	engineModules = func() []modules.Module {
		ms := prev()
		if os.Getenv("PHOENIX_TEST_LXC") != "" {
			ms = append(ms, lxc.New())
		}
		return ms
	}
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		// Shared with the other fakes (each keeps its own subdirectory).
		if e.Getenv("FAKE_STATE") == "" {
			e.Setenv("FAKE_STATE", filepath.Join(e.WorkDir, "fake-state"))
		}
		return nil
	})
}
