package fake

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// These tests hold the fakes to the real tools' behaviour the module
// relies on: syntax, output, exit codes, and state shared between tools.

func newWorld(t *testing.T) (*World, *fakehost.Runner) {
	t.Helper()
	w := New(host.NewDirRoot(t.TempDir()))
	if err := w.Standard(); err != nil {
		t.Fatal(err)
	}
	r := fakehost.New()
	w.Register(r)
	return w, r
}

func run(t *testing.T, r *fakehost.Runner, name string, args ...string) (string, int, string) {
	t.Helper()
	out, err := r.Run(context.Background(), host.Cmd{Name: name, Args: args})
	return string(out.Stdout), host.ExitCode(err), string(out.Stderr)
}

func TestZpoolCreateAndLsblk(t *testing.T) {
	_, r := newWorld(t)
	if _, code, _ := run(t, r, "zpool", "create", "-o", "ashift=12", "tank", "mirror", "/dev/disk/by-id/ata-DISK_B", "/dev/disk/by-id/ata-DISK_C"); code != 0 {
		t.Fatal("create failed")
	}
	out, _, _ := run(t, r, "lsblk", "--json", "-b", "-o", "NAME,FSTYPE")
	if !strings.Contains(out, `"name": "sdb1"`) || !strings.Contains(out, `"fstype": "zfs_member"`) {
		t.Errorf("lsblk does not show the pool's partitions:\n%s", out)
	}
	out, _, _ = run(t, r, "zpool", "status", "-P", "-L")
	for _, want := range []string{"  pool: tank\n", "\t  mirror-0", "\t    /dev/sdb1", "errors: No known data errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if _, code, stderr := run(t, r, "zpool", "create", "tank", "/dev/disk/by-id/ata-DISK_B"); code != 1 || !strings.Contains(stderr, "pool already exists") {
		t.Errorf("second create: %d %q", code, stderr)
	}
	if _, code, stderr := run(t, r, "zpool", "create", "t2", "/dev/disk/by-id/ata-ROOT_SSD"); code != 1 || !strings.Contains(stderr, "busy") {
		t.Errorf("create on the root disk: %d %q", code, stderr)
	}
	if _, code, _ := run(t, r, "zpool", "create", "t3", "mirror", "/dev/disk/by-id/ata-DISK_B"); code != 2 {
		t.Errorf("one-disk mirror: exit %d", code)
	}
}

func TestZpoolCreateRefusesDataWithoutForce(t *testing.T) {
	w, r := newWorld(t)
	if err := w.AddDisk(&Dev{Name: "sdd", Size: 1 << 40, ByID: []string{"ata-D"}, Children: []*Dev{{Name: "sdd1", Type: "part", FSType: "ext4"}}}); err != nil {
		t.Fatal(err)
	}
	_, code, stderr := run(t, r, "zpool", "create", "tank", "/dev/disk/by-id/ata-D")
	if code != 1 || !strings.Contains(stderr, "use '-f' to override") {
		t.Errorf("create over partitions: %d %q", code, stderr)
	}
	if _, code, _ := run(t, r, "wipefs", "-a", "/dev/sdd1"); code != 0 {
		t.Fatal("wipefs part")
	}
	if _, code, _ := run(t, r, "wipefs", "-a", "/dev/disk/by-id/ata-D"); code != 0 {
		t.Fatal("wipefs disk")
	}
	if _, code, stderr := run(t, r, "zpool", "create", "tank", "/dev/disk/by-id/ata-D"); code != 0 {
		t.Errorf("create after wipe: %q", stderr)
	}
	if _, code, _ := run(t, r, "wipefs", "-a", "/dev/disk/by-id/ata-ROOT_SSD"); code != 1 {
		t.Error("wipefs on the mounted root disk succeeded")
	}
}

func TestZfsGetInheritance(t *testing.T) {
	_, r := newWorld(t)
	run(t, r, "zpool", "create", "-O", "compression=lz4", "-O", "mountpoint=/srv", "tank", "/dev/disk/by-id/ata-DISK_B")
	if _, code, stderr := run(t, r, "zfs", "create", "tank/a/b"); code != 1 || !strings.Contains(stderr, "parent does not exist") {
		t.Errorf("create without -p: %d %q", code, stderr)
	}
	run(t, r, "zfs", "create", "-p", "-o", "recordsize=1M", "tank/a/b")
	out, _, _ := run(t, r, "zfs", "get", "-H", "-p", "-o", "property,value,source", "compression,recordsize,mountpoint,quota", "tank/a/b")
	want := "compression\tlz4\tinherited from tank\nrecordsize\t1048576\tlocal\nmountpoint\t/srv/a/b\tinherited from tank\nquota\t0\tdefault\n"
	if out != want {
		t.Errorf("get:\n%q\nwant\n%q", out, want)
	}
	run(t, r, "zfs", "set", "mountpoint=/x", "tank/a")
	out, _, _ = run(t, r, "zfs", "get", "-H", "-p", "-o", "value,source", "mountpoint", "tank/a/b")
	if out != "/x/b\tinherited from tank/a\n" {
		t.Errorf("after set: %q", out)
	}
	if _, code, stderr := run(t, r, "zfs", "get", "-H", "nosuch", "tank"); code != 2 || !strings.Contains(stderr, "invalid property") {
		t.Errorf("bad property: %d %q", code, stderr)
	}
	if _, code, stderr := run(t, r, "zfs", "get", "-H", "mountpoint", "tank/none"); code != 1 || !strings.Contains(stderr, "dataset does not exist") {
		t.Errorf("missing dataset: %d %q", code, stderr)
	}
}

func TestImportAfterReinstall(t *testing.T) {
	w, r := newWorld(t)
	run(t, r, "zpool", "create", "tank", "mirror", "/dev/disk/by-id/ata-DISK_B", "/dev/disk/by-id/ata-DISK_C")
	run(t, r, "zfs", "create", "tank/vm")
	w.Reinstall()
	if _, code, _ := run(t, r, "zfs", "get", "-H", "mountpoint", "tank/vm"); code != 1 {
		t.Error("dataset of an exported pool visible")
	}
	out, _, _ := run(t, r, "zpool", "import", "-d", "/dev/disk/by-id")
	if !strings.Contains(out, "last accessed by another system") || !strings.Contains(out, "\t    ata-DISK_B-part1") {
		t.Errorf("listing:\n%s", out)
	}
	if _, code, stderr := run(t, r, "zpool", "import", "-d", "/dev/disk/by-id", "tank"); code != 1 || !strings.Contains(stderr, "zpool import -f") {
		t.Errorf("import without -f: %d %q", code, stderr)
	}
	if _, code, _ := run(t, r, "zpool", "import", "-d", "/dev/disk/by-id", "-f", "tank"); code != 0 {
		t.Error("import -f failed")
	}
	if _, code, _ := run(t, r, "zfs", "get", "-H", "mountpoint", "tank/vm"); code != 0 {
		t.Error("dataset not back after import")
	}
	// openzfs zpool_main.c:4115-4118, 4703: nothing to import is exit 0.
	if _, code, stderr := run(t, r, "zpool", "import", "-d", "/dev/disk/by-id"); code != 0 || !strings.Contains(stderr, "no pools available to import") {
		t.Errorf("empty listing: %d %q", code, stderr)
	}
}

func TestPvesm(t *testing.T) {
	w, r := newWorld(t)
	// No pool: activation tries an import, which fails
	// (ZFSPoolPlugin.pm:655-680), and the add is undone.
	if _, code, stderr := run(t, r, "pvesm", "add", "zfspool", "vm", "--pool", "tank/vm", "--content", "images"); code != 255 || !strings.Contains(stderr, "could not activate storage 'vm'") {
		t.Errorf("add without pool: %d %q", code, stderr)
	}
	run(t, r, "zpool", "create", "tank", "/dev/disk/by-id/ata-DISK_B")
	// An imported pool without the dataset: on_add_hook ignores the
	// failed mountpoint lookup (ZFSPoolPlugin.pm:155-176) and writes none.
	if _, code, stderr := run(t, r, "pvesm", "add", "zfspool", "early", "--pool", "tank/later", "--content", "images"); code != 0 {
		t.Errorf("add on missing dataset: %d %q", code, stderr)
	}
	run(t, r, "pvesm", "remove", "early")
	run(t, r, "zfs", "create", "tank/vm")
	if _, code, _ := run(t, r, "pvesm", "add", "zfspool", "vm", "--pool", "tank/vm", "--content", "images", "--sparse", "1"); code != 0 {
		t.Fatal("add failed")
	}
	if _, code, stderr := run(t, r, "pvesm", "add", "dir", "vm", "--path", "/x"); code != 255 || !strings.Contains(stderr, "already defined") {
		t.Errorf("duplicate id: %d %q", code, stderr)
	}
	if _, code, stderr := run(t, r, "pvesm", "set", "vm", "--pool", "tank/other"); code != 255 || !strings.Contains(stderr, "fixed parameter") {
		t.Errorf("set fixed: %d %q", code, stderr)
	}
	run(t, r, "pvesm", "set", "vm", "--content", "images,rootdir")
	cfg, _ := w.Root.ReadFile(StorageCfg)
	// The mountpoint comes from the dataset (on_add_hook); required keys
	// first, then the rest sorted, a blank line after each section
	// (SectionConfig.pm write_config).
	if string(cfg) != "zfspool: vm\n\tpool tank/vm\n\tcontent images,rootdir\n\tmountpoint /tank/vm\n\tsparse 1\n\n" {
		t.Errorf("storage.cfg:\n%s", cfg)
	}
	out, _, _ := run(t, r, "pvesm", "status")
	if !strings.HasPrefix(out, "Name ") || !strings.Contains(out, "vm               zfspool  active") {
		t.Errorf("status:\n%s", out)
	}
}
