package cluster_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs"
	zfsfake "github.com/phoenix-pve/phoenix/modules/zfs/fake"
)

const storageSeed = `
zfs:
  pools:
    - name: tank
      layout: mirror
      disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_C]
  datasets:
    - name: tank/vm
  storages:
    - {id: tank-vm, type: zfspool, dataset: tank/vm, content: [images, rootdir]}
`

// TestClusterWideWrittenOnce: after the three nodes formed the cluster,
// each runs the zfs module with the same seed. Its pool and dataset are
// the node's own; the storage lives in the cluster's /etc/pve/storage.cfg,
// so the first node adds it and the others find it there (re-checked, not
// added again).
func TestClusterWideWrittenOnce(t *testing.T) {
	_, ns := lab(t, time.Millisecond, 50*time.Millisecond)
	var mu sync.Mutex
	var slept []time.Duration
	m := module(&slept, &mu)
	if _, err := apply(t, m, ns[0], createSeed); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := apply(t, m, ns[i], joinSeed("192.168.10.1", ns[i].fake.Addr)); err != nil {
			t.Fatal(err)
		}
	}
	const G = 1 << 30
	s := testkit.Seed(t, storageSeed)
	for i, n := range ns {
		w := zfsfake.New(n.fake.Root)
		for _, d := range []*zfsfake.Dev{
			{Name: "sdb", Size: 4000 * G, ByID: []string{"ata-DISK_B"}},
			{Name: "sdc", Size: 4000 * G, ByID: []string{"ata-DISK_C"}},
		} {
			if err := w.AddDisk(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.fake.Root.WriteFile("/proc/mounts", []byte("/dev/mapper/pve-root / ext4 rw 0 0\n"), 0o644, host.Owner{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		r := fakehost.New()
		w.Register(r)
		r.Handle("update-initramfs", func(context.Context, fakehost.Call) fakehost.Result { return fakehost.OK("") })
		_, err := zfs.New().Apply(context.Background(), testkit.Env(s, r, n.fake.Root))
		if err != nil {
			t.Fatalf("%s: %v\n%s", n.fake.Name, err, r.Log())
		}
		adds := strings.Count(r.Log(), "pvesm add")
		if want := map[bool]int{true: 1, false: 0}[i == 0]; adds != want {
			t.Errorf("%s: %d pvesm add, want %d:\n%s", n.fake.Name, adds, want, r.Log())
		}
		if !strings.Contains(r.Log(), "zpool create") {
			t.Errorf("%s: its own pool was not created:\n%s", n.fake.Name, r.Log())
		}
	}
	cfg, err := ns[2].fake.Root.ReadFile("/etc/pve/storage.cfg")
	if err != nil || strings.Count(string(cfg), "zfspool: tank-vm") != 1 {
		t.Fatalf("storage.cfg: %q %v", cfg, err)
	}
}
