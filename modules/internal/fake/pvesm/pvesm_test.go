package pvesm

import (
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// zfsFacts is a ZFS hook: pool tank imported with tank/vm at /tank/vm and
// tank/backup at /tank/backup mounted; tank/cold exists but is unmounted.
type zfsFacts struct{}

func (zfsFacts) Dataset(name string) (string, bool) {
	mp, ok := map[string]string{"tank/vm": "/tank/vm", "tank/backup": "/tank/backup", "tank/cold": "/tank/cold"}[name]
	return mp, ok
}
func (zfsFacts) PoolImported(pool string) bool { return pool == "tank" }
func (zfsFacts) Mounted(dir string) bool       { return dir == "/tank/vm" || dir == "/tank/backup" }

func newFake(t *testing.T) *Fake {
	root := host.NewDirRoot(t.TempDir())
	if err := root.MkdirAll("/tank/backup", 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	return &Fake{Root: root, ZFS: zfsFacts{}}
}

func TestAddDirMakesSubdirs(t *testing.T) {
	f := newFake(t)
	res := f.Run(strings.Fields("add dir tank-backup --path /tank/backup --content backup,iso,vztmpl --is_mountpoint yes --create-base-path 0 --create-subdirs 1"))
	if res.Code != 0 {
		t.Fatalf("add: %d %q", res.Code, res.Stderr)
	}
	// Plugin.pm:1998-2013: a directory per content type.
	for _, d := range []string{"/tank/backup/dump", "/tank/backup/template/iso", "/tank/backup/template/cache"} {
		if fi, err := f.Root.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s missing: %v", d, err)
		}
	}
	if fi, err := f.Root.Stat("/tank/backup/images"); err == nil && fi.IsDir() {
		t.Error("images/ made without images content")
	}
	// create-subdirs 0 (or the deprecated mkdir 0) turns that off.
	res = f.Run(strings.Fields("add dir bare --path /tank/vm --content backup --create-subdirs 0"))
	if res.Code != 0 {
		t.Fatalf("add: %d %q", res.Code, res.Stderr)
	}
	if _, err := f.Root.Stat("/tank/vm/dump"); err == nil {
		t.Error("dump/ made with create-subdirs 0")
	}
	out := f.Run([]string{"path", "tank-backup:vztmpl/x.tar.zst"})
	if out.Code != 0 || out.Stdout != "/tank/backup/template/cache/x.tar.zst\n" {
		t.Errorf("path: %d %q %q", out.Code, out.Stdout, out.Stderr)
	}
}

func TestAddZfspoolToleratesMissingDataset(t *testing.T) {
	f := newFake(t)
	if res := f.Run(strings.Fields("add zfspool later --pool tank/later --content rootdir")); res.Code != 0 {
		t.Fatalf("add on a missing dataset: %d %q", res.Code, res.Stderr)
	}
	if res := f.Run(strings.Fields("add zfspool vm --pool tank/vm --content images,rootdir --sparse 1")); res.Code != 0 {
		t.Fatalf("add: %d %q", res.Code, res.Stderr)
	}
	cfg, _ := f.Root.ReadFile(StorageCfg)
	want := "zfspool: later\n\tpool tank/later\n\tcontent rootdir\n\nzfspool: vm\n\tpool tank/vm\n\tcontent images,rootdir\n\tmountpoint /tank/vm\n\tsparse 1\n\n"
	if string(cfg) != want {
		t.Errorf("storage.cfg:\n%s\nwant:\n%s", cfg, want)
	}
}

func TestPvesmRejects(t *testing.T) {
	f := newFake(t)
	if res := f.Run(strings.Fields("add zfspool vm --pool tank/vm --content images,rootdir")); res.Code != 0 {
		t.Fatalf("add: %d %q", res.Code, res.Stderr)
	}
	calls := []struct{ args, stderr string }{
		{"frob", "ERROR: unknown command 'pvesm frob'"},
		{"add dir tank-backup --path /tank/backup --bogus 1", "Unknown option: bogus"},
		{"add lvm2 x1 --path /x", "type: value 'lvm2' does not have a value in the enumeration"},
		// The deprecated mkdir: the real tool only warns; the contract
		// check refuses it (pvecontract.CheckStrict says so).
		{"add dir tank-backup --path /tank/backup --mkdir 0", "option '--mkdir' is deprecated"},
		{"add dir tank-backup --path /tank/backup --content backup,films", "content: invalid format - invalid content type 'films'"},
		{"add dir x --path /tank/backup", "storage: invalid format - storage ID 'x' cannot be shorter than 2 characters"},
		{"add dir tank-backup --path /tank/backup --max-protected-backups -2", "max-protected-backups: value must have a minimum value of -1"},
		{"add zfspool vm2 --pool tank/vm --sparse maybe", "400 unable to parse boolean option"},
		{"add dir tank-backup --path /tank/backup --bwlimit fast=1", "bwlimit: invalid format - invalid key in comma-separated list property: fast"},
		{"add dir tank-backup --path /tank/backup --pool tank", "unexpected property 'pool'"},
		{"add zfspool vm2 --content images", "missing value for required option 'pool'"},
		{"add dir tank-backup --path relative/dir", "path: invalid format - value does not look like a valid absolute path"},
		// verify_path is unanchored at the end (Plugin.pm:309); DirPlugin
		// check_config then refuses the ";" (DirPlugin.pm:260-262).
		{"add dir tank-backup --path /tank/b@ck;up", "illegal path for directory storage: /tank/b@ck;up"},
		{"add zfspool vm --pool tank/vm", "storage ID 'vm' already defined"},
		{"add dir cold --path /tank/cold --is_mountpoint yes", "directory is expected to be a mount point but is not mounted: '/tank/cold'"},
		{"add zfspool other --pool elsewhere/vm", "could not activate storage 'other'"},
		{"set vm --pool tank/other", "can't change value of fixed parameter 'pool'"},
		{"set nosuch --content images", "storage 'nosuch' does not exist"},
		{"path local", "unable to parse volume ID 'local'"},
	}
	if len(calls) < 10 {
		t.Fatalf("only %d calls", len(calls))
	}
	before, _ := f.Root.ReadFile(StorageCfg)
	for _, c := range calls {
		res := f.Run(strings.Fields(c.args))
		if res.Code != 255 || !strings.Contains(res.Stderr, c.stderr) {
			t.Errorf("pvesm %s: exit %d, stderr %q; want 255 and %q", c.args, res.Code, res.Stderr, c.stderr)
		}
	}
	if after, _ := f.Root.ReadFile(StorageCfg); string(after) != string(before) {
		t.Errorf("a refused call changed storage.cfg:\n%s", after)
	}
	t.Logf("pvesm: %d rejected calls refused", len(calls))
}
