package zfs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs"
	zfsfake "github.com/phoenix-pve/phoenix/modules/zfs/fake"
)

// TestImportUnitEnabled: where zfsutils-linux ships zfs-import@.service,
// a new pool's import unit is enabled, as pve-storage does for the pools
// it creates (src/PVE/API2/Disks/ZFS.pm:511-516).
func TestImportUnitEnabled(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.WriteFile(zfs.ImportUnitTemplate, []byte("[Unit]\n"), 0o644, host.Owner{}))
	e.run.Handle("systemctl", func(context.Context, fakehost.Call) fakehost.Result { return fakehost.OK("") })
	if _, err := e.apply(testkit.Seed(t, fullSeed)); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(e.run.Log(), "\n"), "systemctl enable zfs-import@tank.service") {
		t.Errorf("no import unit enabled:\n%s", e.run.Log())
	}
}

// TestBootESPRefused: a disk whose partition's UUID is one of
// proxmox-boot-tool's ESPs is refused even with wipe. The guard needs the
// UUID column, which the fake lsblk now prints because it was asked for
// (row 15 of the fidelity review).
func TestBootESPRefused(t *testing.T) {
	e := newEnv(t)
	must(t, e.world.AddDisk(&zfsfake.Dev{Name: "sdh", Size: 4000 << 30, ByID: []string{"ata-DISK_H"}, Children: []*zfsfake.Dev{
		{Name: "sdh2", Type: "part", Size: 1 << 30, FSType: "vfat", UUID: "B2C3-D4E5"},
	}}))
	must(t, e.root.WriteFile(zfs.BootUUIDsFile, []byte("b2c3-d4e5\n"), 0o644, host.Owner{}))
	_, err := e.apply(testkit.Seed(t, "zfs:\n  pools:\n    - {name: tank, layout: single, disks: [/dev/disk/by-id/ata-DISK_H], wipe: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "holds a boot partition (sdh2 is in "+zfs.BootUUIDsFile+")") {
		t.Errorf("err = %v", err)
	}
}
