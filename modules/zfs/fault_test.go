package zfs_test

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs"
)

// TestFaults runs a seed with a wiped disk, datasets, storages and the ARC
// limit (root on ZFS, so with the initramfs rebuild) through the fault
// harness: every command failing, a crash after every command and after
// every write must end in the same pools, datasets, storages and files.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection is slow")
	}
	s := testkit.Seed(t, `
zfs:
  arc_max: 8G
  pools:
    - name: tank
      layout: mirror
      disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_D]
      wipe: true
  datasets:
    - name: tank/vm
      properties: {recordsize: 64K}
    - name: tank/media
      mountpoint: /srv/media
      owner: media:users
      mode: "0775"
  storages:
    - {id: tank-vm, type: zfspool, dataset: tank/vm, content: [images, rootdir]}
    - {id: tank-media, type: dir, dataset: tank/media, content: [backup]}
`)
	fault.Check(t, fault.Scenario{
		Seed:    s,
		Modules: []modules.Module{zfs.New()},
		NewWorld: func(t testing.TB) *fault.World {
			root, w, r := newHost(t)
			must(t, root.WriteFile("/proc/mounts", []byte("rpool/ROOT/pve-1 / zfs rw 0 0\n"), 0o644, host.Owner{}))
			must(t, root.WriteFile("/sys/module/zfs/parameters/zfs_arc_max", []byte("0\n"), 0o644, host.Owner{}))
			return &fault.World{Root: root, Runner: r, Effects: w.Effects}
		},
	})
}
