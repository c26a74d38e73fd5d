package all_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/cluster"
	clusterfake "github.com/phoenix-pve/phoenix/modules/cluster/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/users"
	usersfake "github.com/phoenix-pve/phoenix/modules/users/fake"
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
	const fp = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
	base := t.TempDir()
	net := clusterfake.NewNetwork(base, 50*time.Millisecond, time.Millisecond)
	type node struct{ fake *clusterfake.Node }
	var ns []node
	m := &cluster.Module{RetryFor: 10 * time.Minute, SecretOwner: os.Getuid(),
		Sleep: func(ctx context.Context, d time.Duration) error { return host.Sleep(ctx, d/1000) }}
	var mu sync.Mutex
	for i, name := range []string{"pve1", "pve2", "pve3"} {
		root := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(root, "etc/pve"), 0o755); err != nil {
			t.Fatal(err)
		}
		nd := net.AddNode(root, name, "192.168.10."+string(rune('1'+i)), "pw", fp)
		if err := nd.Local.WriteFile("/etc/phoenix/cluster.password", []byte("pw\n"), 0o600, host.Owner{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		r := fakehost.New()
		nd.Register(r)
		y := "cluster:\n  create: {name: lab}\n"
		if i > 0 {
			y = "cluster:\n  join: {name: lab, peer: pve1, fingerprint: \"" + fp + "\", password_file: /etc/phoenix/cluster.password}\n"
		}
		mu.Lock()
		_, err := modules.Apply(context.Background(), m, testkit.Env(testkit.Seed(t, y), r, nd.Root))
		mu.Unlock()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ns = append(ns, node{fake: nd})
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
		_, err := modules.Apply(context.Background(), zfs.New(), testkit.Env(s, r, n.fake.Root))
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

// TestClusterWideUsersOnce: a Proxmox user and its ACL live in the
// cluster's user.cfg (one pveum state for all members, as pmxcfs keeps
// one); the first member adds them, the others find them. The Linux
// account is per node. Real shadow tools (useradd --root), so root only.
func TestClusterWideUsersOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("useradd --root chroots into the root: needs uid 0")
	}
	for _, tool := range []string{"useradd", "usermod", "chpasswd", "visudo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	const fp = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
	base := t.TempDir()
	net := clusterfake.NewNetwork(base, 50*time.Millisecond, time.Millisecond)
	m := &cluster.Module{RetryFor: 10 * time.Minute, SecretOwner: os.Getuid(),
		Sleep: func(ctx context.Context, d time.Duration) error { return host.Sleep(ctx, d/1000) }}
	userCfg := t.TempDir() // the cluster's user.cfg, as the pveum fake keeps it
	pveum := usersfake.New(userCfg)
	etc := map[string]string{
		"/etc/passwd":     "root:x:0:0:root:/root:/bin/bash\n",
		"/etc/shadow":     "root:*:20000:0:99999:7:::\n",
		"/etc/group":      "root:x:0:\nsudo:x:27:\nusers:x:100:\n",
		"/etc/gshadow":    "root:*::\nsudo:*::\nusers:*::\n",
		"/etc/login.defs": "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nUMASK 022\nHOME_MODE 0700\nUSERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n",
		"/etc/sudoers":    "Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
	}
	usersSeed := testkit.Seed(t, "users:\n  - name: ops\n    groups: [users]\n    proxmox: {role: Administrator}\n")
	for i, name := range []string{"pve1", "pve2", "pve3"} {
		root := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(root, "etc/pve"), 0o755); err != nil {
			t.Fatal(err)
		}
		nd := net.AddNode(root, name, "192.168.10."+string(rune('1'+i)), "pw", fp)
		for p, c := range etc {
			mode := os.FileMode(0o644)
			if strings.Contains(p, "shadow") {
				mode = 0o640
			}
			if p == "/etc/sudoers" {
				mode = 0o440
			}
			if err := nd.Local.WriteFile(p, []byte(c), mode, host.Owner{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := nd.Local.WriteFile("/etc/phoenix/cluster.password", []byte("pw\n"), 0o600, host.Owner{}); err != nil {
			t.Fatal(err)
		}
		r := fakehost.New()
		nd.Register(r)
		y := "cluster:\n  create: {name: lab}\n"
		if i > 0 {
			y = "cluster:\n  join: {name: lab, peer: pve1, fingerprint: \"" + fp + "\", password_file: /etc/phoenix/cluster.password}\n"
		}
		if _, err := modules.Apply(context.Background(), m, testkit.Env(testkit.Seed(t, y), r, nd.Root)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, tool := range []string{"useradd", "usermod", "chpasswd", "visudo"} {
			r.Handle(tool, testkit.Real)
		}
		r.Handle("pveum", pveum.Handler)
		r.Reset()
		env := testkit.Env(usersSeed, r, nd.Root)
		env.Store = modules.NewStore(nd.Root)
		if _, err := modules.Apply(context.Background(), users.New(), env); err != nil {
			t.Fatalf("%s users: %v\n%s", name, err, r.Log())
		}
		writes := 0
		for _, l := range strings.Split(r.Log(), "\n") {
			if strings.HasPrefix(l, "pveum user add") || strings.HasPrefix(l, "pveum acl modify") {
				writes++
			}
		}
		if want := map[bool]int{true: 2, false: 0}[i == 0]; writes != want {
			t.Errorf("%s: %d pveum writes, want %d:\n%s", name, writes, want, r.Log())
		}
		if !strings.Contains(r.Log(), "useradd") {
			t.Errorf("%s: the Linux account is per node:\n%s", name, r.Log())
		}
	}
	st, err := pveum.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range st.Users {
		if u.UserID == "ops@pam" {
			n++
		}
	}
	if n != 1 || len(st.ACL) != 1 {
		t.Fatalf("user.cfg: %+v", st)
	}
}
