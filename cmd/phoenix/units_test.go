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

	// The boot graph with Proxmox's own units (verbatim copies, see
	// testdata/pve-units/README.md) enabled as on a PVE host: verifying
	// multi-user.target builds its start transaction, so an ordering cycle
	// between Phoenix (After=pve-cluster, Before=pve-guests) and PVE's
	// daemons is reported.
	installPVEUnits(t, dir)
	t.Run("with Proxmox units", func(t *testing.T) { verify(t, "multi-user.target") })
	// That check can fail: a drop-in ordering phoenix after pve-guests
	// (which it must precede), or zfs-mount after phoenix (which is after
	// zfs.target), is a cycle.
	for unit, line := range map[string]string{
		units.Path(units.Boot):                      "After=pve-guests.service",
		"/usr/lib/systemd/system/zfs-mount.service": "After=" + units.Boot,
	} {
		dropin := filepath.Join(dir, unit+".d")
		if err := os.MkdirAll(dropin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dropin, "cycle.conf"), []byte("[Unit]\n"+line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		got, _ := exec.Command(analyze, "verify", "--root="+dir, "--man=no", "multi-user.target").CombinedOutput()
		if !strings.Contains(string(got), "ordering cycle") {
			t.Errorf("verify with %s in %s said %q, want an ordering cycle", line, unit, got)
		}
		if err := os.RemoveAll(dropin); err != nil {
			t.Fatal(err)
		}
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

// installPVEUnits copies testdata/pve-units (and the OpenZFS units of
// testdata/zfs-units) into root's /usr/lib/systemd/system, enables
// pve-cluster, pve-guests and zfs as a PVE host has them, and puts
// placeholder executables where their ExecStart= points (verify checks
// that the command exists).
func installPVEUnits(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir("testdata/pve-units")
	if err != nil {
		t.Fatal(err)
	}
	sys := filepath.Join(root, "usr/lib/systemd/system")
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".service") && !strings.HasSuffix(e.Name(), ".target") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata/pve-units", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	for _, n := range []string{"pve-cluster.service", "pve-guests.service"} {
		if err := os.Symlink("/usr/lib/systemd/system/"+n, filepath.Join(wants, n)); err != nil {
			t.Fatal(err)
		}
	}
	// OpenZFS's units, enabled as zfsutils-linux's preset has them
	// (etc/systemd/system/50-zfs.preset), the paths filled in.
	zents, err := os.ReadDir("testdata/zfs-units")
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.NewReplacer("@sbindir@", "/usr/sbin", "@bindir@", "/usr/bin", "@sysconfdir@", "/etc", "@initconfdir@", "/etc/default")
	for _, e := range zents {
		name, ok := strings.CutSuffix(e.Name(), ".in")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata/zfs-units", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, name), []byte(paths.Replace(string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"zfs.target": "multi-user.target.wants", "zfs-import.target": "zfs.target.wants",
		"zfs-import-cache.service": "zfs-import.target.wants", "zfs-mount.service": "zfs.target.wants",
		"zfs-share.service": "zfs.target.wants", "zfs-zed.service": "zfs.target.wants",
		"zfs-volumes.target": "zfs.target.wants", "zfs-volume-wait.service": "zfs-volumes.target.wants",
	}
	for n, dir := range links {
		d := filepath.Join(root, "etc/systemd/system", dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/usr/lib/systemd/system/"+n, filepath.Join(d, n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"usr/sbin/zfs", "usr/sbin/zpool", "usr/sbin/zed", "usr/bin/zvol_wait"} {
		p := filepath.Join(root, b)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(root, "usr/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"pmxcfs", "pvesh", "pveproxy", "pvestatd", "pvedaemon", "spiceproxy", "pvecm", "vzdump", "pveupdate"} {
		p := filepath.Join(bin, b)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
