package files

import (
	"io/fs"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

func TestPlanPendingApplyRestore(t *testing.T) {
	r := host.NewDirRoot(t.TempDir())
	if err := r.WriteFile("/etc/a", []byte("old\n"), 0o600, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Symlink("/etc/a", "/etc/link"); err != nil {
		t.Fatal(err)
	}
	before, err := Save(r, "/etc/a", "/etc/b", "/etc/link", "/etc/gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/etc/gone", []byte("x"), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	plan := Plan{
		{Path: "/etc/a", Data: []byte("new\n"), Mode: 0o644, Why: "set a"},
		{Path: "/etc/b", Data: []byte("b\n"), Mode: 0o644},
		{Path: "/etc/link", Data: []byte("not a link\n"), Mode: 0o644},
		{Path: "/etc/gone", Absent: true},
		{Path: "/etc/dir", Dir: true, Mode: 0o700},
		{Path: "/etc/keep", Dir: true, Mode: 0o700, IfMissing: true},
	}
	pending, err := plan.Pending(r)
	if err != nil || len(pending) != 6 || pending[0] != "/etc/a: set a" || pending[3] != "/etc/gone: remove" {
		t.Fatalf("pending %q %v", pending, err)
	}
	changed, err := plan.Apply(r)
	if err != nil || len(changed) != 6 {
		t.Fatalf("changed %q %v", changed, err)
	}
	// The symlink itself was replaced, its target not written through.
	if b, _ := r.ReadFile("/etc/a"); string(b) != "new\n" {
		t.Errorf("/etc/a = %q", b)
	}
	if fi, _ := r.Lstat("/etc/link"); fi.Mode()&fs.ModeSymlink != 0 {
		t.Error("still a symlink")
	}
	if pending, _ := plan.Pending(r); len(pending) != 0 {
		t.Errorf("after apply: %q", pending)
	}
	// Mode drift is pending; an existing IfMissing dir with another mode is not.
	_ = r.Chmod("/etc/b", 0o666)
	_ = r.Chmod("/etc/keep", 0o755)
	if pending, _ := plan.Pending(r); len(pending) != 1 || pending[0] != "/etc/b: write" {
		t.Errorf("mode drift: %q", pending)
	}
	// Restore brings back content, mode, the link and absence.
	if _, err := before.Plan().Apply(r); err != nil {
		t.Fatal(err)
	}
	if b, _ := r.ReadFile("/etc/a"); string(b) != "old\n" {
		t.Errorf("restored /etc/a = %q", b)
	}
	if fi, _ := r.Stat("/etc/a"); fi.Mode().Perm() != 0o600 {
		t.Errorf("restored mode %v", fi.Mode())
	}
	if l, _ := r.Readlink("/etc/link"); l != "/etc/a" {
		t.Errorf("link %q", l)
	}
	for _, p := range []string{"/etc/b", "/etc/gone"} {
		if host.Exists(r, p) {
			t.Errorf("%s not removed", p)
		}
	}
	// A directory wanted where a file is: an error, not a silent replace.
	if _, err := (File{Path: "/etc/a", Dir: true, Mode: 0o755}).Apply(r); err == nil {
		t.Error("file replaced by a directory")
	}
}
