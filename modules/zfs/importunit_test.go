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
