package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-pve/phoenix/units"
)

func init() {
	// PHOENIX_BIN is the phoenix command testscript runs, so scripts can
	// put a copy on a fake seed volume (install_hook.txtar).
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		for _, dir := range filepath.SplitList(e.Getenv("PATH")) {
			if p := filepath.Join(dir, "phoenix"); fileExists(p) {
				e.Setenv("PHOENIX_BIN", p)
				break
			}
		}
		return nil
	})
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// TestUnitsVerify installs into a temp root and runs the real
// `systemd-analyze verify` on every unit there. The root also gets a copy of
// this machine's systemd units (targets such as network-online.target), as
// an installed system has; systemd need not be running.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	sysUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(sysUnits, "sysinit.target")); err != nil {
		t.Skip("no systemd units on this machine")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", sysUnits, filepath.Join(dir, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copy system units: %v\n%s", err, out)
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"install", "--root", dir, "--enable"}, &out, &errb); code != exitOK {
		t.Fatalf("install = %d: %s", code, errb.String())
	}
	verify := func(t *testing.T, args ...string) {
		t.Helper()
		cmd := exec.Command(analyze, append([]string{"verify", "--root=" + dir, "--man=no"}, args...)...)
		got, err := cmd.CombinedOutput()
		// verify exits 0 on some warnings (an unknown key is "ignoring"):
		// any output at all is a failure.
		if err != nil || len(bytes.TrimSpace(got)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(args, " "), err, got)
		}
	}
	for _, u := range units.All() {
		t.Run(u.Name, func(t *testing.T) { verify(t, filepath.Join(dir, units.Path(u.Name))) })
	}

	// The check can fail: without the binary, ExecStart= is refused.
	if err := os.Remove(filepath.Join(dir, units.Binary)); err != nil {
		t.Fatal(err)
	}
	got, _ := exec.Command(analyze, "verify", "--root="+dir, "--man=no", filepath.Join(dir, units.Path(units.Boot))).CombinedOutput()
	if !strings.Contains(string(got), "is not executable") {
		t.Errorf("verify without the binary said %q, want an ExecStart complaint", got)
	}
}
