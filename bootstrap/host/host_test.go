package host_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

const secret = "$6$saltsalt$0123456789abcdefghij"

func TestRedactor(t *testing.T) {
	r := host.NewRedactor(secret, "!", "", "*", "short")
	for _, tc := range []struct{ in, want string }{
		{"usermod -p " + secret + " admin", "usermod -p <redacted> admin"},
		{"locked ! and * stay", "locked ! and * stay"},
		{"short words stay short", "short words stay short"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var nilR *host.Redactor
	if nilR.String(secret) != secret {
		t.Error("a nil Redactor must pass text through")
	}
}

func TestRedactorError(t *testing.T) {
	r := host.NewRedactor(secret)
	ee := &host.ExitError{Cmd: "chpasswd -e <stdin>", Code: 3, Stderr: "bad line admin:" + secret}
	for _, err := range []error{ee, errors.Join(errors.New("users"), ee)} {
		got := r.Error(err)
		if strings.Contains(got.Error(), secret) {
			t.Errorf("secret in %q", got)
		}
		var back *host.ExitError
		if !errors.As(got, &back) || back.Code != 3 || strings.Contains(back.Stderr, secret) || host.ExitCode(got) != 3 {
			t.Errorf("redacted error lost its ExitError or kept the secret: %#v", back)
		}
	}
	wrapped := r.Error(&fs.PathError{Op: "open", Path: "/x/" + secret, Err: fs.ErrNotExist})
	if !errors.Is(wrapped, fs.ErrNotExist) || strings.Contains(wrapped.Error(), secret) {
		t.Errorf("errors.Is lost or secret kept: %v", wrapped)
	}
	plain := errors.New("nothing secret")
	if any(r.Error(plain)) != any(plain) { // the same error value, not a wrapper
		t.Error("an error without a secret must come back unchanged")
	}
}

func TestExecRunnerRedactsAndLogs(t *testing.T) {
	var logged []string
	r := host.NewExecRunner()
	r.Redactor = host.NewRedactor(secret)
	r.Log = func(s string) { logged = append(logged, s) }
	_, err := r.Run(context.Background(), host.Cmd{Name: "sh", Args: []string{"-c", `cat >&2; exit 4`, secret}, Stdin: []byte(secret)})
	if host.ExitCode(err) != 4 {
		t.Fatalf("err = %v, want exit 4", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(strings.Join(logged, "\n"), secret) {
		t.Errorf("secret leaked: err %q, log %q", err, logged)
	}
	if !strings.Contains(err.Error(), host.Redacted) {
		t.Errorf("err %q: stderr not captured", err)
	}
}

// TestExecRunnerTimeoutKillsTree: a timed-out command and its children are
// killed, and Run returns promptly even though a grandchild held stdout.
func TestExecRunnerTimeoutKillsTree(t *testing.T) {
	r := host.NewExecRunner()
	start := time.Now()
	_, err := r.Run(context.Background(), host.Cmd{Name: "sh", Args: []string{"-c", "sleep 30 & sleep 30; echo never"}, Timeout: 200 * time.Millisecond})
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Code != -1 || !strings.Contains(ee.Stderr, "deadline exceeded") {
		t.Fatalf("err = %v, want a timeout ExitError", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s after a 200ms timeout", d)
	}
}

func TestDirRootNoSyncIsStillExact(t *testing.T) {
	for _, sync := range []bool{true, false} {
		r := host.NewDirRoot(t.TempDir())
		r.SetSync(sync)
		if err := r.WriteFile("/etc/a/b.conf", []byte("x\n"), 0o640, host.Owner{UID: os.Geteuid(), GID: os.Getegid()}); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteFile("/etc/a/b.conf", []byte("y\n"), 0o600, host.Owner{UID: os.Geteuid(), GID: os.Getegid()}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(r.Path("/etc/a/b.conf"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("sync=%v: mode %v, %v; want 0600", sync, fi.Mode(), err)
		}
		ents, _ := os.ReadDir(filepath.Dir(r.Path("/etc/a/b.conf")))
		if len(ents) != 1 {
			t.Errorf("sync=%v: temp files left: %v", sync, ents)
		}
	}
}

// WriteVolatile replaces a file as exactly as WriteFile does (mode, no temp
// file left, parents created) on a DirRoot, and goes through the Root's own
// WriteFile on any other Root, so a wrapper still sees the write.
func TestWriteVolatile(t *testing.T) {
	r := host.NewDirRoot(t.TempDir())
	me := host.Owner{UID: os.Geteuid(), GID: os.Getegid()}
	for _, data := range []string{"x\n", "y\n"} {
		if err := host.WriteVolatile(r, "/var/lib/p/s.json", []byte(data), 0o600, me); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(r.Path("/var/lib/p/s.json"))
	fi, _ := os.Stat(r.Path("/var/lib/p/s.json"))
	if err != nil || string(b) != "y\n" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after two writes: %q %v, %v; want \"y\\n\" 0600", b, fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(r.Path("/var/lib/p")); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
	w := &writeCounter{Root: r}
	if err := host.WriteVolatile(w, "/etc/z", []byte("z\n"), 0o644, me); err != nil || w.n != 1 {
		t.Errorf("through a wrapper: %d WriteFile calls, %v; want 1", w.n, err)
	}
}

// writeCounter is a Root wrapper without WriteFileVolatile.
type writeCounter struct {
	host.Root
	n int
}

func (w *writeCounter) WriteFile(p string, data []byte, mode fs.FileMode, o host.Owner) error {
	w.n++
	return w.Root.WriteFile(p, data, mode, o)
}

func TestChrootRunnerWrapsArgv(t *testing.T) {
	var got host.Cmd
	inner := runnerFunc(func(_ context.Context, c host.Cmd) (host.Output, error) { got = c; return host.Output{}, nil })
	r := host.ChrootRunner{Dir: "/mnt/target", Inner: inner}
	secret := []byte("name:$y$hash")
	if _, err := r.Run(context.Background(), host.Cmd{Name: "chpasswd", Args: []string{"-e"}, Stdin: secret}); err != nil {
		t.Fatal(err)
	}
	want := "unshare --net chroot /mnt/target chpasswd -e <stdin>"
	if got.String() != want {
		t.Fatalf("argv = %q, want %q", got.String(), want)
	}
	if string(got.Stdin) != string(secret) {
		t.Fatal("stdin not passed through")
	}
}

type runnerFunc func(context.Context, host.Cmd) (host.Output, error)

func (f runnerFunc) Run(ctx context.Context, c host.Cmd) (host.Output, error) { return f(ctx, c) }

// TestWriteKernelFile: the file is written in place (the same inode, as
// procfs and sysfs require: no rename), truncated, and never created.
func TestWriteKernelFile(t *testing.T) {
	dir := t.TempDir()
	r := host.NewDirRoot(dir)
	p := filepath.Join(dir, "proc/sys/kernel/hostname")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("debian-long-name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)
	if err := host.WriteKernelFile(r, "/proc/sys/kernel/hostname", []byte("pve1")); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(p)
	if b, _ := os.ReadFile(p); string(b) != "pve1" {
		t.Errorf("content %q, want pve1 (truncated)", b)
	}
	if !os.SameFile(before, after) {
		t.Error("the file was replaced, not written in place")
	}
	err := host.WriteKernelFile(r, "/sys/module/zfs/parameters/zfs_arc_max", []byte("1"))
	if !errors.Is(err, fs.ErrNotExist) || host.Exists(r, "/sys/module/zfs/parameters/zfs_arc_max") {
		t.Errorf("missing file: err %v, want ErrNotExist and nothing created", err)
	}
}

// TestInChroot: a root whose /proc/1/root is another directory is a
// chroot (the kernel's magic link stands in as a symlink the kernel
// follows); one whose /proc/1/root is itself is PID 1's root; one with no
// procfs cannot tell and says no, as systemd's running_in_chroot() does.
// The machine's own "/" is not a chroot where the tests run as root.
func TestInChroot(t *testing.T) {
	outside, dir := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proc/1"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := host.NewDirRoot(dir)
	if host.InChroot(r) {
		t.Error("no /proc/1/root: in a chroot")
	}
	link := filepath.Join(dir, "proc/1/root")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if !host.InChroot(r) {
		t.Error("PID 1's root elsewhere: not in a chroot")
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if host.InChroot(r) {
		t.Error("PID 1's root is this root: in a chroot")
	}
	if os.Geteuid() == 0 && host.InChroot(host.NewDirRoot("/")) {
		t.Error("the test machine's / is a chroot")
	}
}
