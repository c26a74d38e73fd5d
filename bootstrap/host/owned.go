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

// SafeChmodChown sets mode and owner of a directory someone other than
// root controls (a share or dataset directory), or one inside it: the
// path must be a real directory (never a symlink, whose target would get
// the mode: security review M1), and the change is made on a descriptor
// opened with O_NOFOLLOW|O_DIRECTORY, so a swap after the check changes
// nothing either.
func SafeChmodChown(r Root, p string, mode fs.FileMode, owner *Owner) error {
	fi, err := r.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("%s: %s: %w", p, kind(fi), ErrUnsafe)
	}
	dr, ok := r.(*DirRoot)
	if !ok {
		if err := r.Chmod(p, mode); err != nil {
			return err
		}
		if owner != nil {
			return r.Chown(p, *owner)
		}
		return nil
	}
	f, err := os.OpenFile(dr.noFollow(path.Clean("/"+p)), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s: not a plain directory: %w", p, ErrUnsafe)
		}
		return err
	}
	defer f.Close()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if owner != nil {
		// Unprivileged (tests) a chown to another uid fails; as root it
		// must not.
		if err := f.Chown(owner.UID, owner.GID); err != nil && canChown() {
			return err
		}
	}
	return nil
}
