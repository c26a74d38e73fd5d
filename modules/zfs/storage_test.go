package zfs_test

import (
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

type fakeVDev = fake.VDev

var hostOwner0 = host.Owner{}

const storageSeed = `
zfs:
  pools:
    - {name: tank, layout: mirror, disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_C]}
  datasets:
    - name: tank/vm
    - name: tank/backup
  storages:
    - {id: tank-vm, type: zfspool, dataset: tank/vm, content: [images, rootdir]}
    - {id: tank-backup, type: dir, dataset: tank/backup, content: [backup]}
`

func TestStorageTypeMismatch(t *testing.T) {
	e := newEnv(t)
	must(t, e.world.AddStorage("tank-vm", "dir", []string{"path", "/tank/vm"}, []string{"content", "images"}))
	_, err := e.apply(testkit.Seed(t, storageSeed))
	if err == nil || !strings.Contains(err.Error(), `storage "tank-vm": exists as type dir, the seed says zfspool`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStorageContentConverged(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, storageSeed)
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	e.do("pvesm", "set", "tank-vm", "--content", "images")
	e.do("pvesm", "set", "tank-vm", "--sparse", "0")
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(writes(e.run.Log()), "\n"); got != "pvesm set tank-vm --content images,rootdir --sparse 1" {
		t.Errorf("writes = %q", got)
	}
	if len(res.Changed) != 1 {
		t.Errorf("changed %q", res.Changed)
	}
	// Content order does not matter.
	e.do("pvesm", "set", "tank-vm", "--content", "rootdir,images")
	if ch, _ := e.check(s); len(ch) > 0 {
		t.Errorf("reordered content is a change: %q", ch)
	}
}

// TestNoDoubleRegistration is bash failure 4: a dataset already registered
// under another id is an error, not a second storage.
func TestNoDoubleRegistration(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, storageSeed)
	if _, err := e.apply(testkit.Seed(t, strings.Split(storageSeed, "  storages:")[0])); err != nil {
		t.Fatal(err)
	}
	e.do("pvesm", "add", "zfspool", "vmstore", "--pool", "tank/vm", "--content", "images")
	_, err := e.apply(s)
	if err == nil || !strings.Contains(err.Error(), `zfspool tank/vm is already registered as storage "vmstore"`) {
		t.Fatalf("err = %v", err)
	}
	if strings.Count(e.read("/etc/pve/storage.cfg"), "pool tank/vm") != 1 {
		t.Error("registered twice")
	}
	// The seed validator refuses this too; the module does not rely on it.
	dup := testkit.Seed(t, storageSeed)
	dup.ZFS.Storages = append(dup.ZFS.Storages, seed.Storage{ID: "again", Type: "dir", Dataset: "tank/backup", Content: []string{"iso"}})
	if _, err := e.check(dup); err == nil || !strings.Contains(err.Error(), `already storage "tank-backup" in the seed`) {
		t.Errorf("seed duplicate: %v", err)
	}
}
