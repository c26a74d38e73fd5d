package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/google/renameio/v2"
)

// Owner is a numeric file owner. Root{} (0:0) is the zero value.
type Owner struct{ UID, GID int }

// Root is every file access Phoenix makes, prefixed by a root directory:
// "/" in production, a temp dir in tests, --root DIR for an offline image.
// All paths are absolute paths as seen from inside the root.
type Root interface {
	// Path maps an in-root absolute path to the real path on this machine.
	Path(p string) string
	ReadFile(p string) ([]byte, error)
	// WriteFile replaces p atomically (temp file, fsync, rename, fsync of the
	// directory) with exactly mode and owner, creating parent directories
	// 0755 root:root as needed.
	WriteFile(p string, data []byte, mode fs.FileMode, owner Owner) error
	MkdirAll(p string, mode fs.FileMode, owner Owner) error
	Remove(p string) error
	Stat(p string) (fs.FileInfo, error)
	Lstat(p string) (fs.FileInfo, error)
	ReadDir(p string) ([]fs.DirEntry, error)
	// Symlink creates (or atomically replaces) newname pointing at target.
	Symlink(target, newname string) error
	Readlink(p string) (string, error)
	Chmod(p string, mode fs.FileMode) error
	Chown(p string, owner Owner) error
}

// DirRoot is a Root backed by a real directory.
type DirRoot struct {
	dir    string
	nosync bool
}

var _ Root = (*DirRoot)(nil)

// NewDirRoot returns a Root prefixed by dir ("/" for the live system).
func NewDirRoot(dir string) *DirRoot {
	if dir == "" {
		dir = "/"
	}
	return &DirRoot{dir: filepath.Clean(dir), nosync: noSyncDefault.Load()}
}

// noSyncDefault is the SetSync state of new DirRoots; see SetDefaultSync.
var noSyncDefault atomic.Bool

// SetDefaultSync sets whether DirRoots created from now on fsync (the
// default: true) and returns a func restoring the previous default. Only
// tests call it: bootstrap/fault turns sync off for the worlds a test
// builds, whose crashes are simulated, so fsync would only cost time.
func SetDefaultSync(on bool) (restore func()) {
	prev := noSyncDefault.Swap(!on)
	return func() { noSyncDefault.Store(prev) }
}

// SetSync turns fsync on (the default) or off. Writes stay atomic either
// way (temp file, rename); without sync they are not durable across a power
// loss. Tests that write thousands of files (bootstrap/fault) turn it off:
// their crashes are simulated, and fsync dominates their run time.
func (r *DirRoot) SetSync(on bool) { r.nosync = !on }

// Dir is the directory this root is prefixed by.
func (r *DirRoot) Dir() string { return r.dir }

// Path implements Root: it maps p to a real path inside the root, with
// every symlink on the way resolved inside the root too, the way the kernel
// will resolve it once the image boots (openat2's RESOLVE_IN_ROOT): ".."
// never climbs above the root, and an absolute link target (etc -> /etc)
// starts again at the root, not at this machine's /. So no path under
// --root DIR ever reaches a file outside DIR.
//
// The resolution is a walk with Lstat, not a kernel call: an offline root
// is an image nobody else changes while Phoenix runs, so there is no race
// to lose. On the live system ("/") the kernel's own resolution is the
// same, and p is only cleaned.
func (r *DirRoot) Path(p string) string { return r.resolve(p, true) }

// noFollow is Path for operations on the last element itself (Lstat,
// Readlink, Remove, Symlink, Lchown, a rename over it): its parent is
// resolved inside the root, the last element is not followed.
func (r *DirRoot) noFollow(p string) string { return r.resolve(p, false) }

// maxLinks bounds symlink expansions in one resolution, like the kernel's
// MAXSYMLINKS (40).
const maxLinks = 40

// loopPath is what a resolution that hit maxLinks returns: a NUL byte makes
// every system call on it fail with EINVAL, so the caller gets an error and
// nothing is touched.
const loopPath = "\x00symlink loop"

func (r *DirRoot) resolve(p string, followLast bool) string {
	clean := path.Clean("/" + p)
	if r.dir == "/" {
		return clean
	}
	var done []string // resolved components, each a real directory (or link-free name)
	todo := splitPath(clean)
	links := 0
	for len(todo) > 0 {
		el := todo[0]
		todo = todo[1:]
		switch el {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(done[:len(done):len(done)], el)
		if len(todo) == 0 && !followLast {
			done = cand
			break
		}
		real := filepath.Join(r.dir, filepath.Join(cand...))
		fi, err := os.Lstat(real)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing (a file about to be created, a directory MkdirAll
			// will make) or not a link: take the name as it is.
			done = cand
			continue
		}
		links++
		if links > maxLinks {
			return filepath.Join(r.dir, loopPath)
		}
		target, err := os.Readlink(real)
		if err != nil {
			done = cand
			continue
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(splitPath(target), todo...)
	}
	return filepath.Join(append([]string{r.dir}, done...)...)
}

func splitPath(p string) []string { return strings.Split(strings.Trim(p, "/"), "/") }

func (r *DirRoot) ReadFile(p string) ([]byte, error) { return os.ReadFile(r.Path(p)) }

func (r *DirRoot) WriteFile(p string, data []byte, mode fs.FileMode, owner Owner) error {
	if r.nosync {
		return r.WriteFileVolatile(p, data, mode, owner)
	}
	// The rename replaces the last element itself, as on the live system.
	real := r.noFollow(p)
	if err := r.MkdirAll(path.Dir(path.Clean("/"+p)), 0o755, Owner{}); err != nil {
		return err
	}
	pf, err := renameio.NewPendingFile(real, renameio.WithStaticPermissions(mode))
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer pf.Cleanup()
	if _, err := pf.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := chownIfNeeded(pf.Name(), owner); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return r.syncDir(filepath.Dir(real))
}

// WriteFileVolatile is WriteFile without the fsyncs: the replace is still
// atomic (temp file, exact mode and owner, rename), but a power cut may
// undo it. For records that are rewritten often and derived from durable
// ones, such as the engine's status.json between a run's start and its
// end; callers go through WriteVolatile.
func (r *DirRoot) WriteFileVolatile(p string, data []byte, mode fs.FileMode, owner Owner) error {
	// The rename replaces the last element itself, as in WriteFile.
	real := r.noFollow(p)
	if err := r.MkdirAll(path.Dir(path.Clean("/"+p)), 0o755, Owner{}); err != nil {
		return err
	}
	return writeNoSync(real, data, mode, owner)
}

// WriteVolatile replaces p atomically in r without making it durable, where
// r can (a DirRoot); any other Root gets its own WriteFile, so a wrapper
// (a dry run) still sees every write. A wrapper that embeds *DirRoot
// inherits WriteFileVolatile, so one that intercepts WriteFile (the
// fault harness's crash points) overrides it too.
//
// What a power cut leaves: the old content or the new one where the file
// system orders a rename over a file after that file's data (ext4's
// auto_da_alloc, the default: Linux Documentation/admin-guide/ext4.rst;
// ZFS, whose transaction groups commit in order); on others, such as XFS,
// possibly an empty file. So only what the next run rewrites anyway goes
// here.
func WriteVolatile(r Root, p string, data []byte, mode fs.FileMode, owner Owner) error {
	if v, ok := r.(interface {
		WriteFileVolatile(p string, data []byte, mode fs.FileMode, owner Owner) error
	}); ok {
		return v.WriteFileVolatile(p, data, mode, owner)
	}
	return r.WriteFile(p, data, mode, owner)
}

// noSyncTemp marks writeNoSync's temporary files ("." + base + noSyncTemp
// + digits), which SweepTemp recognises.
const noSyncTemp = ".tmp"

// writeNoSync is WriteFile without fsync: temp file in the same directory,
// exact mode and owner, rename.
func writeNoSync(real string, data []byte, mode fs.FileMode, owner Owner) error {
	f, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+noSyncTemp+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", real, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = chownIfNeeded(f.Name(), owner)
	}
	if err == nil {
		err = os.Rename(f.Name(), real)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", real, err)
	}
	return nil
}

// chownIfNeeded skips the chown when the owner already matches, so tests
// that do not run as root can still write root-owned (0:0) files they own.
func chownIfNeeded(name string, o Owner) error {
	if os.Geteuid() != 0 && o.UID == os.Geteuid() {
		return nil
	}
	if os.Geteuid() != 0 && o == (Owner{}) {
		return nil
	}
	return os.Lchown(name, o.UID, o.GID)
}

// syncDir makes a rename durable: renameio does not fsync the directory.
func (r *DirRoot) syncDir(dir string) error {
	if r.nosync {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func (r *DirRoot) MkdirAll(p string, mode fs.FileMode, owner Owner) error {
	real := r.Path(p)
	if fi, err := os.Stat(real); err == nil && fi.IsDir() {
		return nil
	}
	// Create missing parents one by one so each gets an explicit mode.
	parent := path.Dir(path.Clean("/" + p))
	if parent != "/" && parent != path.Clean("/"+p) {
		if err := r.MkdirAll(parent, 0o755, Owner{}); err != nil {
			return err
		}
	}
	if err := os.Mkdir(real, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	if err := os.Chmod(real, mode); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	if err := chownIfNeeded(real, owner); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	return r.syncDir(filepath.Dir(real))
}

func (r *DirRoot) Remove(p string) error {
	real := r.noFollow(p)
	if err := os.Remove(real); err != nil {
		return err
	}
	return r.syncDir(filepath.Dir(real))
}

func (r *DirRoot) Stat(p string) (fs.FileInfo, error)      { return os.Stat(r.Path(p)) }
func (r *DirRoot) Lstat(p string) (fs.FileInfo, error)     { return os.Lstat(r.noFollow(p)) }
func (r *DirRoot) ReadDir(p string) ([]fs.DirEntry, error) { return os.ReadDir(r.Path(p)) }
func (r *DirRoot) Readlink(p string) (string, error)       { return os.Readlink(r.noFollow(p)) }
func (r *DirRoot) Chmod(p string, mode fs.FileMode) error  { return os.Chmod(r.Path(p), mode) }
func (r *DirRoot) Chown(p string, o Owner) error           { return chownIfNeeded(r.noFollow(p), o) }

func (r *DirRoot) Symlink(target, newname string) error {
	real := r.noFollow(newname)
	if err := r.MkdirAll(path.Dir(path.Clean("/"+newname)), 0o755, Owner{}); err != nil {
		return err
	}
	if err := renameio.Symlink(target, real); err != nil {
		return fmt.Errorf("symlink %s: %w", newname, err)
	}
	return r.syncDir(filepath.Dir(real))
}

// WriteKernelFile writes data to an existing kernel file in root (procfs,
// sysfs: a sysctl, a module parameter) in place: such files cannot be
// replaced by a temp file and a rename as WriteFile does, and are never
// created (no O_CREAT). The file is resolved inside the root like every
// other path.
func WriteKernelFile(r Root, p string, data []byte) error {
	f, err := os.OpenFile(r.Path(p), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// Exists reports whether p exists in root (without following a final symlink).
func Exists(r Root, p string) bool {
	_, err := r.Lstat(p)
	return err == nil
}

// IsLive reports whether r is the running system's own root ("/"), not
// an offline image or a test directory: only then may a caller talk to
// the running systemd about it.
func IsLive(r Root) bool { return r.Path("/") == "/" }

// SystemdBooted is SystemdBootedIn of this machine's own root.
func SystemdBooted() bool { return SystemdBootedIn(NewDirRoot("/")) }

// SystemdBootedIn reports whether r is a system booted with systemd as
// PID 1, as sd_booted(3) checks (/run/systemd/system is a directory), and
// r's root is PID 1's, not a chroot's (InChroot): a chroot with the
// host's /run bind-mounted, as image builds mount it for apt, has the
// directory and the host's system bus, and a D-Bus call from there would
// start, stop or reboot the build machine. systemctl ignores such verbs
// in a chroot for the same reason (systemd src/shared/verbs.c,
// running_in_chroot_or_offline()).
func SystemdBootedIn(r Root) bool {
	fi, err := r.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir() && !InChroot(r)
}

// InChroot reports whether r's root is not PID 1's: /proc/1/root (inside
// r, where a mounted procfs is the running kernel's) and r's "/" are not
// the same file, as systemd's running_in_chroot() compares them (src/
// basic/virt.c, files_same("/proc/1/root", "/")). The kernel follows the
// magic link: /proc/1 is resolved inside r, its last component by the
// kernel. Where it cannot tell (no procfs there; /proc/1/root needs
// root's ptrace access), it says no, as systemd assumes "not" on such an
// error (running_in_chroot_or_offline()).
func InChroot(r Root) bool {
	pid1, err := os.Stat(r.Path("/proc/1") + "/root")
	if err != nil {
		return false
	}
	self, err := os.Stat(r.Path("/"))
	return err == nil && !os.SameFile(pid1, self)
}
