package zfs

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"

	"github.com/phoenix-pve/phoenix/seed"
)

// Real `zpool status -P -L` output (OpenZFS 2.2) with log, cache and spare.
const statusOut = `  pool: rpool
 state: ONLINE
config:

	NAME           STATE     READ WRITE CKSUM
	rpool          ONLINE       0     0     0
	  /dev/sda3    ONLINE       0     0     0

errors: No known data errors

  pool: tank
 state: ONLINE
  scan: scrub repaired 0B in 00:00:01 with 0 errors on Sun Nov  8 00:24:02 2026
config:

	NAME           STATE     READ WRITE CKSUM
	tank           ONLINE       0     0     0
	  raidz2-0     ONLINE       0     0     0
	    /dev/sdb1  ONLINE       0     0     0
	    /dev/sdc1  ONLINE       0     0     0
	    /dev/sdd1  ONLINE       0     0     0
	  mirror-1     ONLINE       0     0     0
	    /dev/sde1  ONLINE       0     0     0
	    /dev/sdf1  ONLINE       0     0     0
	logs
	  /dev/nvme0n1p1  ONLINE    0     0     0
	cache
	  /dev/nvme0n1p2  ONLINE    0     0     0
	spares
	  /dev/sdg1    AVAIL

errors: No known data errors
`

// The `zpool import` listing, with the wrapped action line.
const importOut = `   pool: old
     id: 15486237727432591470
  state: ONLINE
 status: The pool was last accessed by another system.
 action: The pool can be imported using its name or numeric identifier and
	the '-f' flag.
   see: https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-EY
 config:

	old                         ONLINE
	  mirror-0                  ONLINE
	    ata-DISK_B-part1        ONLINE
	    ata-DISK_C-part1        ONLINE

   pool: solo
     id: 42
  state: ONLINE
 action: The pool can be imported using its name or numeric identifier.
 config:

	solo        ONLINE
	  ata-X     ONLINE
`

func TestParsePools(t *testing.T) {
	got := parsePools(statusOut)
	want := []poolInfo{
		{Name: "rpool", VDevs: []vdev{{Type: "disk", Disks: []string{"/dev/sda3"}}}},
		{Name: "tank", VDevs: []vdev{
			{Type: "raidz2", Disks: []string{"/dev/sdb1", "/dev/sdc1", "/dev/sdd1"}},
			{Type: "mirror", Disks: []string{"/dev/sde1", "/dev/sdf1"}},
		}, Aux: []string{"/dev/nvme0n1p1", "/dev/nvme0n1p2", "/dev/sdg1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status:\n got %+v\nwant %+v", got, want)
	}
	got = parsePools(importOut)
	want = []poolInfo{
		{Name: "old", Foreign: true, VDevs: []vdev{{Type: "mirror", Disks: []string{"ata-DISK_B-part1", "ata-DISK_C-part1"}}}},
		{Name: "solo", VDevs: []vdev{{Type: "disk", Disks: []string{"ata-X"}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("import:\n got %+v\nwant %+v", got, want)
	}
	if p := parsePools("no pools available\n"); len(p) != 0 {
		t.Errorf("empty: %+v", p)
	}
}

func TestParseStorageCfg(t *testing.T) {
	cfg := "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n"
	got, err := ParseStorageCfg([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	want := []StorageEntry{
		{Type: "dir", ID: "local", Opts: map[string]string{"path": "/var/lib/vz", "content": "iso,vztmpl,backup"}},
		{Type: "zfspool", ID: "local-zfs", Opts: map[string]string{"pool": "rpool/data", "sparse": "1", "content": "images,rootdir"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	if _, err := ParseStorageCfg([]byte("\tpath /x\n")); err == nil {
		t.Error("option outside a section accepted")
	}
}

func TestCreateArgs(t *testing.T) {
	p := &seed.Pool{Name: "t", Layout: "raidz2", Disks: []string{"/dev/disk/by-id/a", "/dev/disk/by-id/b", "/dev/disk/by-id/c", "/dev/disk/by-id/d"},
		Options: map[string]string{"autotrim": "off", "comment": "x"}, Properties: map[string]string{"atime": "on", "recordsize": "1M"}, Mountpoint: "/t"}
	vs, err := expected(p)
	if err != nil {
		t.Fatal(err)
	}
	got := createArgs(p, vs)
	want := []string{"create", "-o", "ashift=12", "-o", "autotrim=off", "-o", "comment=x",
		"-O", "compression=lz4", "-O", "atime=on", "-O", "xattr=sa", "-O", "acltype=posixacl", "-O", "recordsize=1M",
		"-O", "mountpoint=/t", "t", "raidz2", "/dev/disk/by-id/a", "/dev/disk/by-id/b", "/dev/disk/by-id/c", "/dev/disk/by-id/d"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestParseRealLsblk runs this machine's real lsblk with the module's exact
// arguments (read-only) and parses it, so the JSON shape the fake prints is
// the real one.
func TestParseRealLsblk(t *testing.T) {
	out, err := host.NewExecRunner().Run(context.Background(), host.Cmd{Name: LsblkCmd, Args: lsblkArgs})
	if err != nil {
		t.Skipf("no usable lsblk here: %v", err)
	}
	devs, err := parseLsblk(string(out.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Skip("no block devices visible")
	}
	for _, d := range devs {
		if d.Name == "" || !strings.HasPrefix(d.Path, "/dev/") || d.Type == "" || len(d.Mountpoints) == 0 {
			t.Errorf("device parsed incompletely: %+v", d)
		}
	}
}
