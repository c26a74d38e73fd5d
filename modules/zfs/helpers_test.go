package zfs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs"
	"github.com/phoenix-pve/phoenix/modules/zfs/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

// env is one test host: a temp Root, the storage fakes on a recording
// Runner, and the module.
type env struct {
	t     *testing.T
	root  *host.DirRoot
	world *fake.World
	run   *fakehost.Runner
	mod   *zfs.Module
}

const rootOnLVM = "/dev/mapper/pve-root / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n"

// newEnv builds a Proxmox-like host: sda is the installer's disk (ESP,
// LVM with pve-root on /), sdb and sdc are blank, sdd carries an old ext4
// partition, sde is an md member, sdf is mounted at /mnt/old.
func newEnv(t *testing.T) *env {
	t.Helper()
	root, w, r := newHost(t)
	return &env{t: t, root: root, world: w, run: r, mod: zfs.New()}
}

// newHost is the host of newEnv, also used as the fault harness's World.
func newHost(t testing.TB) (*host.DirRoot, *fake.World, *fakehost.Runner) {
	t.Helper()
	root := host.NewDirRoot(t.TempDir())
	w := fake.New(root)
	must(t, root.WriteFile("/proc/mounts", []byte(rootOnLVM), 0o644, host.Owner{}))
	must(t, root.WriteFile("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/bash\nmedia:x:1500:1500::/home/media:/bin/sh\n"), 0o644, host.Owner{}))
	must(t, root.WriteFile("/etc/group", []byte("root:x:0:\nmedia:x:1500:\nusers:x:100:\n"), 0o644, host.Owner{}))
	const G = 1 << 30
	disks := []*fake.Dev{
		{Name: "sda", Size: 500 * G, ByID: []string{"ata-ROOT_SSD"}, Children: []*fake.Dev{
			{Name: "sda1", Type: "part", Size: 1 << 20},
			{Name: "sda2", Type: "part", Size: G, FSType: "vfat", Mounts: []string{"/boot/efi"}},
			{Name: "sda3", Type: "part", Size: 499 * G, FSType: "LVM2_member", Children: []*fake.Dev{
				{Name: "pve-root", Type: "lvm", Size: 96 * G, FSType: "ext4", Mounts: []string{"/"}},
				{Name: "pve-swap", Type: "lvm", Size: 8 * G, FSType: "swap", Mounts: []string{"[SWAP]"}},
			}},
		}},
		{Name: "sdb", Size: 4000 * G, ByID: []string{"ata-DISK_B"}},
		{Name: "sdc", Size: 4000 * G, ByID: []string{"ata-DISK_C"}},
		{Name: "sdd", Size: 4000 * G, ByID: []string{"ata-DISK_D"}, Children: []*fake.Dev{
			{Name: "sdd1", Type: "part", Size: 4000 * G, FSType: "ext4"},
		}},
		{Name: "sde", Size: 4000 * G, ByID: []string{"ata-DISK_E"}, FSType: "linux_raid_member", Children: []*fake.Dev{
			{Name: "md0", Type: "raid1", Size: 4000 * G, FSType: "ext4"},
		}},
		{Name: "sdf", Size: 4000 * G, ByID: []string{"ata-DISK_F"}, Children: []*fake.Dev{
			{Name: "sdf1", Type: "part", Size: 4000 * G, FSType: "xfs", Mounts: []string{"/mnt/old"}},
		}},
		{Name: "sdg", Size: 4000 * G, ByID: []string{"ata-DISK_G"}},
	}
	for _, d := range disks {
		must(t, w.AddDisk(d))
	}
	must(t, w.AddStorage("local", "dir", []string{"path", "/var/lib/vz"}, []string{"content", "iso,vztmpl,backup"}))
	r := fakehost.New()
	w.Register(r)
	r.Handle("update-initramfs", func(context.Context, fakehost.Call) fakehost.Result { return fakehost.OK("") })
	return root, w, r
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) modEnv(s *seed.Seed) *modules.Env {
	return testkit.Env(s, e.run, e.root)
}

func (e *env) apply(s *seed.Seed) (modules.Result, error) {
	e.t.Helper()
	e.run.Reset()
	return modules.Apply(context.Background(), e.mod, e.modEnv(s))
}

func (e *env) check(s *seed.Seed) ([]string, error) {
	e.t.Helper()
	e.run.Reset()
	return modules.Check(context.Background(), e.mod, e.modEnv(s))
}

// do runs a tool directly against the fakes (an admin's or a bash
// script's change behind Phoenix's back).
func (e *env) do(name string, args ...string) {
	e.t.Helper()
	if _, err := e.run.Run(context.Background(), host.Cmd{Name: name, Args: args}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(p string) string {
	b, err := e.root.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// destructive lists the calls that change disks.
func destructive(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "wipefs") || strings.HasPrefix(l, "sgdisk") || strings.HasPrefix(l, "zpool create") {
			out = append(out, l)
		}
	}
	return out
}

// writes lists the calls that change anything (everything but reads).
func writes(log string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] + " " + f[1] {
		case "zpool status", "zpool import", "zpool get", "zpool list", "zfs get", "zfs list", "pvesm status":
			if f[1] == "import" && len(f) > 4 { // importing, not listing
				out = append(out, l)
			}
			continue
		}
		if f[0] == "lsblk" {
			continue
		}
		out = append(out, l)
	}
	return out
}
