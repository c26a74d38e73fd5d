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

// TestARCAtOrBelowCMin: on a 512 GiB host arc_c_min is 16 GiB (1/32 of
// RAM), and OpenZFS ignores a live zfs_arc_max at or below it
// (module/zfs/arc.c:7637-7640). Plan (Check) and Apply refuse it before
// writing anything, naming the smallest value that works; a live c_min
// (arcstats, lowered by the admin's zfs_arc_min) is preferred over RAM.
func TestARCAtOrBelowCMin(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.WriteFile("/proc/meminfo", []byte("MemTotal:       536870912 kB\nMemFree:        1000 kB\n"), 0o644, hostOwner0))
	must(t, e.root.WriteFile("/sys/module/zfs/parameters/zfs_arc_max", []byte("0\n"), 0o644, hostOwner0))
	for _, v := range []string{"16G", "8G"} {
		s := testkit.Seed(t, "zfs:\n  arc_max: "+v+"\n")
		_, err := e.check(s)
		if err == nil || !strings.Contains(err.Error(), "at or below this host's arc_c_min of 17179869184 bytes") ||
			!strings.Contains(err.Error(), "smallest arc_max that works here is 16385M") {
			t.Errorf("check %s: err = %v", v, err)
		}
		if _, err := e.apply(s); err == nil {
			t.Errorf("apply %s accepted", v)
		}
	}
	if _, err := e.root.Stat("/etc/modprobe.d/zfs.conf"); err == nil {
		t.Error("zfs.conf written for a refused limit")
	}
	// The smallest value it names works.
	if _, err := e.apply(testkit.Seed(t, "zfs:\n  arc_max: 16385M\n")); err != nil {
		t.Errorf("16385M: %v", err)
	}
	// The live c_min wins over RAM: an admin who lowered zfs_arc_min to
	// 4 GiB can set 8G.
	must(t, e.root.WriteFile("/proc/spl/kstat/zfs/arcstats", []byte("13 1 0x01 147 39984 5478993893 87238452830221\nname                            type data\nhits                            4    123\nc                               4    17179869184\nc_min                           4    4294967296\nc_max                           4    274877906944\n"), 0o644, hostOwner0))
	if _, err := e.apply(testkit.Seed(t, "zfs:\n  arc_max: 8G\n")); err != nil {
		t.Errorf("8G over a 4 GiB live c_min: %v", err)
	}
	if _, err := e.check(testkit.Seed(t, "zfs:\n  arc_max: 4G\n")); err == nil || !strings.Contains(err.Error(), "c_min in /proc/spl/kstat/zfs/arcstats") {
		t.Errorf("4G over a 4 GiB live c_min: %v", err)
	}
}
