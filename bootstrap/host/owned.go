package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// ErrUnsafe is wrapped when a path under a directory someone other than
// root controls (a home directory, ~/.ssh, a share or dataset directory)
// is a symlink, a FIFO, a device, or owned by someone else: Phoenix then
// neither reads it nor writes, chmods or chowns through it. Otherwise a
// user could point ~/.ssh/authorized_keys at /etc/shadow and have Phoenix
// copy it for them (security review H1), or plant share/drop -> /etc and
// have it made 0777 (M1).
var ErrUnsafe = errors.New("refused: not a plain file or directory of its owner")

// maxOwnedRead bounds what ReadOwned reads from a user's file.
const maxOwnedRead = 16 << 20

// CheckOwnedDir checks that p is a directory, not a symlink to one, owned
// by owner or by root. A missing p is no error (fs.ErrNotExist is returned
// for the caller to tell).
func CheckOwnedDir(r Root, p string, owner Owner) error {
	fi, err := r.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("%s: %s: %w", p, kind(fi), ErrUnsafe)
	}
	if o := FileOwner(fi); o.UID != owner.UID && o.UID != 0 && canChown() {
		return fmt.Errorf("%s: owned by uid %d, not %d: %w", p, o.UID, owner.UID, ErrUnsafe)
	}
	return nil
}

// ReadOwned reads a file in a user-controlled directory: opened without
// following a symlink (O_NOFOLLOW) and without blocking on a FIFO
// (O_NONBLOCK), then checked on the open descriptor: a regular file owned
// by owner or root, at most 16 MiB. dirs are the user-controlled
// directories on the way (home, ~/.ssh), each checked with CheckOwnedDir.
func ReadOwned(r Root, p string, owner Owner, dirs ...string) ([]byte, error) {
	for _, d := range dirs {
		if err := CheckOwnedDir(r, d, owner); err != nil {
			return nil, err
		}
	}
	dr, ok := r.(*DirRoot)
	if !ok {
		// A wrapped or fake Root: the same checks on Lstat, then a read.
		fi, err := r.Lstat(p)
		if err != nil {
			return nil, err
		}
		if err := ownedRegular(p, fi, owner); err != nil {
			return nil, err
		}
		return r.ReadFile(p)
	}
	f, err := os.OpenFile(dr.noFollow(p), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: a symlink: %w", p, ErrUnsafe)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := ownedRegular(p, fi, owner); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOwnedRead+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxOwnedRead {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", p, maxOwnedRead, ErrUnsafe)
	}
	return b, nil
}

func ownedRegular(p string, fi fs.FileInfo, owner Owner) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %s: %w", p, kind(fi), ErrUnsafe)
	}
	if o := FileOwner(fi); o.UID != owner.UID && o.UID != 0 && canChown() {
		return fmt.Errorf("%s: owned by uid %d, not %d: %w", p, o.UID, owner.UID, ErrUnsafe)
	}
	return nil
}

func kind(fi fs.FileInfo) string {
	m := fi.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file"
}

// canChown reports whether this process can own files for others (root):
// tests running unprivileged create files they own, so owner checks
// against other uids only apply as root.
func canChown() bool { return os.Geteuid() == 0 }

// SafeChmod and SafeChown change a directory someone other than root
// controls (a share or dataset directory): p must be a real directory,
// never a symlink whose target would get the mode (security review M1),
// no user-owned symlink may lead to it (CheckNoUserLinks), and the change
// is made on a descriptor opened with O_NOFOLLOW|O_DIRECTORY, so a swap
// after the check changes nothing either.
func SafeChmod(r Root, p string, mode fs.FileMode) error {
	return onDir(r, p, func(f *os.File) error { return f.Chmod(mode) }, func() error { return r.Chmod(p, mode) })
}

// SafeChown: see SafeChmod.
func SafeChown(r Root, p string, o Owner) error {
	return onDir(r, p, func(f *os.File) error {
		// Unprivileged (tests) a chown to another uid fails; as root it
		// must not.
		if err := f.Chown(o.UID, o.GID); err != nil && canChown() {
			return err
		}
		return nil
	}, func() error { return r.Chown(p, o) })
}

// CheckNoUserLinks refuses a path with a symlink on the way that is not
// root's: a link a user planted (share/drop -> /etc).
func CheckNoUserLinks(r Root, p string) error {
	cur := "/"
	for _, el := range splitPath(path.Clean("/" + p)) {
		if el == "" {
			continue
		}
		cur = path.Join(cur, el)
		fi, err := r.Lstat(cur)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 && FileOwner(fi).UID != 0 && canChown() {
			return fmt.Errorf("%s: a symlink owned by uid %d: %w", cur, FileOwner(fi).UID, ErrUnsafe)
		}
	}
	return nil
}

func onDir(r Root, p string, op func(*os.File) error, fallback func() error) error {
	fi, err := r.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("%s: %s: %w", p, kind(fi), ErrUnsafe)
	}
	if err := CheckNoUserLinks(r, p); err != nil {
		return err
	}
	dr, ok := r.(*DirRoot)
	if !ok {
		return fallback()
	}
	f, err := os.OpenFile(dr.noFollow(p), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s: not a plain directory: %w", p, ErrUnsafe)
		}
		return err
	}
	defer f.Close()
	return op(f)
}
