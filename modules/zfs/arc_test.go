package zfs_test

import (
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

// TestARCPersisted is bash failure 7: the limit is written to
// /etc/modprobe.d/zfs.conf (keeping the admin's lines) as well as set
// live, and a rerun changes nothing.
func TestARCPersisted(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.WriteFile("/etc/modprobe.d/zfs.conf", []byte("options zfs zfs_prefetch_disable=1\n"), 0o644, hostOwner0))
	must(t, e.root.WriteFile("/sys/module/zfs/parameters/zfs_arc_max", []byte("0\n"), 0o644, hostOwner0))
	s := testkit.Seed(t, "zfs:\n  arc_max: 16G\n")
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	conf := e.read("/etc/modprobe.d/zfs.conf")
	if !strings.HasPrefix(conf, "options zfs zfs_prefetch_disable=1\n") || !strings.Contains(conf, "\noptions zfs zfs_arc_max=17179869184\n") {
		t.Errorf("zfs.conf:\n%s", conf)
	}
	if got := e.read("/sys/module/zfs/parameters/zfs_arc_max"); got != "17179869184\n" {
		t.Errorf("live = %q", got)
	}
	if strings.Contains(e.run.Log(), "update-initramfs") {
		t.Error("initramfs rebuilt though the root is not on ZFS")
	}
	if res, err := e.apply(s); err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun: %q %v", res.Changed, err)
	}
	// A reboot resets nothing: the persisted file is what the module
	// reads at load. A live value changed behind our back is set again.
	must(t, e.root.WriteFile("/sys/module/zfs/parameters/zfs_arc_max", []byte("0\n"), 0o644, hostOwner0))
	if res, _ := e.apply(s); len(res.Changed) != 1 {
		t.Errorf("live drift: %q", res.Changed)
	}
}

// TestARCInitramfsAfterCrash: with the root on ZFS the initramfs is
// rebuilt; if that fails after the file was written, the rerun still
// rebuilds it (the Store remembers), then never again.
func TestARCInitramfsAfterCrash(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.WriteFile("/proc/mounts", []byte("rpool/ROOT/pve-1 / zfs rw 0 0\n"), 0o644, hostOwner0))
	e.run.Script("update-initramfs", fakehost.Fail(1, "update-initramfs: failed for /boot/initrd.img"), fakehost.OK(""))
	s := testkit.Seed(t, "zfs:\n  arc_max: 2G\n")
	if _, err := e.apply(s); err == nil {
		t.Fatal("no error from failed update-initramfs")
	}
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Changed, "\n"); !strings.HasPrefix(got, "update-initramfs") {
		t.Errorf("rerun changed %q, want the initramfs rebuild", got)
	}
	if res, err := e.apply(s); err != nil || len(res.Changed) > 0 {
		t.Errorf("third run: %q %v", res.Changed, err)
	}
}

func TestARCTooSmall(t *testing.T) {
	e := newEnv(t)
	if _, err := e.apply(testkit.Seed(t, "zfs:\n  arc_max: 1M\n")); err == nil || !strings.Contains(err.Error(), "below the 64M") {
		t.Errorf("err = %v", err)
	}
}
