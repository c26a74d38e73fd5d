package zfs_test

import (
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

const fullSeed = `
zfs:
  arc_max: 8G
  pools:
    - name: tank
      layout: mirror
      disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_C]
  datasets:
    - name: tank/vm
      properties: {recordsize: 64K, compression: zstd}
    - name: tank/backup
    - name: tank/media
      mountpoint: /srv/media
      owner: media:users
      mode: "0775"
    - name: tank/media/films
      properties: {quota: 1T}
  storages:
    - {id: tank-vm, type: zfspool, dataset: tank/vm, content: [images, rootdir]}
    - {id: tank-backup, type: dir, dataset: tank/backup, content: [backup, iso, vztmpl]}
`

// TestCreateThenRerun: the first Apply creates everything (golden call
// log); a second Apply and a Check find nothing to do and change nothing.
func TestCreateThenRerun(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.WriteFile("/sys/module/zfs/parameters/zfs_arc_max", []byte("0\n"), 0o644, hostOwner0))
	s := testkit.Seed(t, fullSeed)
	want, err := e.check(s)
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(e.run.Log()); len(w) > 0 {
		t.Fatalf("Check changed things: %q", w)
	}
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	testkit.GoldenFile(t, "create.log", e.run.Log())
	if strings.Join(want, "\n") != strings.Join(res.Changed, "\n") {
		t.Errorf("Check said\n%s\nApply did\n%s", strings.Join(want, "\n"), strings.Join(res.Changed, "\n"))
	}
	testkit.GoldenFile(t, "create.effects", e.world.Effects())
	testkit.GoldenFile(t, "create.storage.cfg", e.read("/etc/pve/storage.cfg"))
	// The dir storage got its content directories at activation (row 4 of
	// the fidelity review): the first vzdump, pveam download or ISO upload
	// needs them, and nothing else creates them.
	for _, d := range []string{"/tank/backup/dump", "/tank/backup/template/cache", "/tank/backup/template/iso"} {
		if fi, err := e.root.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory after the dir storage was added (%v)", d, err)
		}
	}
	if got := e.read("/sys/module/zfs/parameters/zfs_arc_max"); got != "8589934592\n" {
		t.Errorf("live ARC = %q", got)
	}

	res, err = e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) > 0 {
		t.Errorf("rerun changed: %q", res.Changed)
	}
	if w := writes(e.run.Log()); len(w) > 0 {
		t.Errorf("rerun ran changing commands: %q", w)
	}
	if ch, err := e.check(s); err != nil || len(ch) > 0 {
		t.Errorf("Check after Apply = %q, %v; want converged", ch, err)
	}
}

// TestMountpointsDecidedOnce is bash failure 4: the originals moved
// datasets to /mnt/pve/<ds>, then NFS to /mnt/pve/<pool>-<ds>. A local
// mountpoint the seed does not ask for is inherited back, and an explicit
// one is set back, so the path Mountpoint returns is the one mounted.
func TestMountpointsDecidedOnce(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, fullSeed)
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	e.do("zfs", "set", "mountpoint=/mnt/pve/backup", "tank/backup")
	e.do("zfs", "set", "mountpoint=/mnt/pve/tank-media", "tank/media")
	e.do("zfs", "set", "compression=off", "recordsize=128K", "tank/vm")
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	testkit.GoldenFile(t, "drift.log", strings.Join(writes(e.run.Log()), "\n")+"\n")
	if len(res.Changed) != 3 {
		t.Errorf("changed %q", res.Changed)
	}
	e.run.Reset()
	e.do("zfs", "get", "-H", "-p", "-o", "value", "mountpoint", "tank/backup")
	if ch, _ := e.check(s); len(ch) > 0 {
		t.Errorf("not converged: %q", ch)
	}
}

// TestAdoptExistingPool: an imported pool of the seed's name and layout is
// adopted: no disk is touched, its options are converged.
func TestAdoptExistingPool(t *testing.T) {
	e := newEnv(t)
	must(t, e.world.AddPool("tank", []fakeVDev{{Type: "mirror", Disks: []string{"sdb", "sdc"}}}, true, "a1b2c3d4", nil))
	s := testkit.Seed(t, fullSeed)
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if d := destructive(e.run.Log()); len(d) > 0 {
		t.Errorf("adoption touched disks: %q", d)
	}
	if !strings.Contains(e.run.Log(), "zpool set autotrim=on tank") {
		t.Errorf("autotrim not converged:\n%s", e.run.Log())
	}
	_ = res
}

// TestAdoptLayoutMismatch: a pool whose layout differs from the seed is an
// error, and is never recreated.
func TestAdoptLayoutMismatch(t *testing.T) {
	e := newEnv(t)
	must(t, e.world.AddPool("tank", []fakeVDev{{Type: "disk", Disks: []string{"sdb"}}, {Type: "disk", Disks: []string{"sdc"}}}, true, "a1b2c3d4", nil))
	_, err := e.apply(testkit.Seed(t, fullSeed))
	if err == nil || !strings.Contains(err.Error(), `layout disk(sdb) + disk(sdc) differs from the seed's mirror(sdb sdc)`) {
		t.Fatalf("err = %v", err)
	}
	if d := destructive(e.run.Log()); len(d) > 0 {
		t.Errorf("touched disks: %q", d)
	}
}

// TestResumeAfterReinstall is bash failure 5: after a reinstall the pool
// is on the disks but not imported (and last used by the old host id). The
// rerun imports it instead of failing with "drive in use".
func TestResumeAfterReinstall(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, fullSeed)
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	e.world.Reinstall()
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	log := e.run.Log()
	if d := destructive(log); len(d) > 0 {
		t.Errorf("reinstall rerun touched disks: %q", d)
	}
	if !strings.Contains(log, "zpool import -d /dev/disk/by-id -f tank\n") {
		t.Errorf("pool not imported:\n%s", log)
	}
	if len(res.Changed) != 1 {
		t.Errorf("changed %q, want only the import", res.Changed)
	}
}

// TestExportedPoolImported: an exported pool of this host is imported
// without -f.
func TestExportedPoolImported(t *testing.T) {
	e := newEnv(t)
	must(t, e.world.AddPool("tank", []fakeVDev{{Type: "mirror", Disks: []string{"sdb", "sdc"}}}, false, "a1b2c3d4", nil))
	if _, err := e.apply(testkit.Seed(t, fullSeed)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.run.Log(), "zpool import -d /dev/disk/by-id tank\n") {
		t.Errorf("not imported:\n%s", e.run.Log())
	}
}

// TestDiskSafety: every refusal names the disk and the check; the root
// disk is refused even with wipe; nothing destructive runs.
func TestDiskSafety(t *testing.T) {
	for _, tc := range []struct {
		name, disks string
		wipe        bool
		want        []string
	}{
		{"partitions without wipe", "[/dev/disk/by-id/ata-DISK_D]", false, []string{"disk /dev/disk/by-id/ata-DISK_D: (sdd) carries partitions sdd1 (set wipe: true", "signatures ext4 on sdd1"}},
		{"root disk", "[/dev/disk/by-id/ata-ROOT_SSD]", false, []string{"disk /dev/disk/by-id/ata-ROOT_SSD: (sda) holds the root filesystem (/ on pve-root)"}},
		{"root disk even with wipe", "[/dev/disk/by-id/ata-ROOT_SSD]", true, []string{"(sda) holds the root filesystem (/ on pve-root)", "(sda) holds the boot filesystem (/boot/efi on sda2)", "(sda) is an LVM physical volume (sda3)", "(sda) is in use as swap (pve-swap)"}},
		{"mounted even with wipe", "[/dev/disk/by-id/ata-DISK_F]", true, []string{"disk /dev/disk/by-id/ata-DISK_F: (sdf) is mounted (sdf1 on /mnt/old)"}},
		{"md member even with wipe", "[/dev/disk/by-id/ata-DISK_E]", true, []string{"(sde) is part of an md RAID array (sde)"}},
		{"missing disk", "[/dev/disk/by-id/ata-NOPE]", true, []string{"disk /dev/disk/by-id/ata-NOPE: does not exist"}},
		{"partition given", "[/dev/disk/by-id/ata-ROOT_SSD-part3]", true, []string{"sda3 is a part, not a whole disk"}},
		{"same disk twice", "[/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/wwn-0x5000b]", false, []string{"disk /dev/disk/by-id/wwn-0x5000b: is the same disk (sdb) as /dev/disk/by-id/ata-DISK_B"}},
		{"one bad disk of two", "[/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-ROOT_SSD]", true, []string{"/dev/disk/by-id/ata-ROOT_SSD: (sda) holds the root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			must(t, e.root.Symlink("../../sdb", "/dev/disk/by-id/wwn-0x5000b"))
			if tc.name == "partition given" {
				must(t, e.root.Symlink("../../sda3", "/dev/disk/by-id/ata-ROOT_SSD-part3"))
			}
			layout := "single"
			if strings.Contains(tc.disks, ",") {
				layout = "mirror"
			}
			y := "zfs:\n  pools:\n    - {name: tank, layout: " + layout + ", disks: " + tc.disks
			if tc.wipe {
				y += ", wipe: true"
			}
			y += "}\n"
			before := e.world.Effects()
			_, err := e.apply(testkit.Seed(t, y))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if d := destructive(e.run.Log()); len(d) > 0 {
				t.Errorf("destructive calls: %q", d)
			}
			if e.world.Effects() != before {
				t.Error("disks changed")
			}
			if _, err := e.check(testkit.Seed(t, y)); err == nil {
				t.Error("Check did not report the unsafe disk")
			}
		})
	}
}

// TestRootPoolRefused: with the root on ZFS, the rpool disks are refused
// even with wipe (bash failure 10).
func TestRootPoolRefused(t *testing.T) {
	e := newEnv(t)
	must(t, e.world.AddPool("rpool", []fakeVDev{{Type: "disk", Disks: []string{"sdg"}}}, true, "a1b2c3d4", nil))
	must(t, e.root.WriteFile("/proc/mounts", []byte("rpool/ROOT/pve-1 / zfs rw 0 0\n"), 0o644, hostOwner0))
	_, err := e.apply(testkit.Seed(t, "zfs:\n  pools:\n    - {name: tank, layout: mirror, disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_G], wipe: true}\n"))
	if err == nil || !strings.Contains(err.Error(), `disk /dev/disk/by-id/ata-DISK_G: (sdg) is part of the root filesystem's pool "rpool"`) {
		t.Fatalf("err = %v", err)
	}
	if d := destructive(e.run.Log()); len(d) > 0 {
		t.Errorf("destructive calls: %q", d)
	}
}

// TestSysfsHolders: a disk held by device-mapper (seen in sysfs) is refused.
func TestSysfsHolders(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.MkdirAll("/sys/block/sdb/holders/dm-3", 0o755, hostOwner0))
	_, err := e.apply(testkit.Seed(t, "zfs:\n  pools:\n    - {name: tank, layout: single, disks: [/dev/disk/by-id/ata-DISK_B], wipe: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "(sdb) is held by dm-3") {
		t.Fatalf("err = %v", err)
	}
}

// TestWipeThenCreate: with wipe, the partitions' signatures, the disk's and
// the GPT are erased before a create without -f.
func TestWipeThenCreate(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, "zfs:\n  pools:\n    - {name: tank, layout: mirror, disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_D], wipe: true, ashift: 13, options: {autoexpand: \"on\"}, properties: {compression: zstd}}\n")
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	testkit.GoldenFile(t, "wipe.log", e.run.Log())
	if res, err := e.apply(s); err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun: %q, %v", res.Changed, err)
	}
}

// TestStripeLayouts: the create argv of each layout.
func TestStripeLayouts(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, `
zfs:
  pools:
    - name: fast
      layout: stripe
      vdevs:
        - {type: mirror, disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_C]}
        - {type: mirror, disks: [/dev/disk/by-id/ata-DISK_G, /dev/disk/by-id/ata-DISK_D]}
      wipe: true
      mountpoint: /fast
`)
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.run.Log(), "zpool create -o ashift=12 -o autotrim=on -O compression=lz4 -O atime=off -O xattr=sa -O acltype=posixacl -O mountpoint=/fast fast mirror /dev/disk/by-id/ata-DISK_B /dev/disk/by-id/ata-DISK_C mirror /dev/disk/by-id/ata-DISK_G /dev/disk/by-id/ata-DISK_D\n") {
		t.Errorf("create argv:\n%s", e.run.Log())
	}
	if res, err := e.apply(s); err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun: %q, %v", res.Changed, err)
	}
}
