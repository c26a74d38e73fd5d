package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// canChown: a non-root test run cannot own files as anyone else, so owners
// are not compared there (host.WriteIfChanged does the same).
func canChown() bool { return os.Geteuid() == 0 }

// ApplyOwnerMode gives directory p the owner ("user[:group]", names or
// numbers, resolved through the Root's /etc/passwd and /etc/group) and mode
// ("0775"), changing only what differs. do records and performs each
// change, as in the modules' Check/Apply runs. Samba share directories use
// it too.
func ApplyOwnerMode(root host.Root, p, owner, mode string, dry bool, do func(string, func() error) error) error {
	// Lstat: the directory may be in a tree users write to (a 0777
	// share); a symlink planted there must not pass its target on.
	fi, err := root.Lstat(p)
	if err == nil && (fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir()) {
		return fmt.Errorf("%s: not a plain directory (a symlink or a file): %w", p, host.ErrUnsafe)
	}
	if err == nil {
		err = host.CheckNoUserLinks(root, p)
		if errors.Is(err, host.ErrUnsafe) {
			return err
		}
	}
	if err != nil {
		if !dry {
			return fmt.Errorf("%s: %w", p, err)
		}
		// Not there yet (the pool or dataset step creates it): both
		// will change.
		if owner != "" {
			_ = do(fmt.Sprintf("chown %s %s", owner, p), nil)
		}
		if mode != "" {
			_ = do(fmt.Sprintf("chmod %s %s", mode, p), nil)
		}
		return nil
	}
	if owner != "" {
		o, err := LookupOwner(root, owner)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if host.FileOwner(fi) != o {
			if err := do(fmt.Sprintf("chown %s %s", owner, p), func() error { return host.SafeChown(root, p, o) }); err != nil {
				return err
			}
		}
	}
	if mode != "" {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s: bad mode %q", p, mode)
		}
		fm := fs.FileMode(m).Perm()
		if m&0o4000 != 0 {
			fm |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			fm |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			fm |= fs.ModeSticky
		}
		if fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != fm {
			if err := do(fmt.Sprintf("chmod %s %s", mode, p), func() error { return host.SafeChmod(root, p, fm) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// LookupOwner resolves "user[:group]" through the Root's /etc/passwd and
// /etc/group; numbers are taken as they are. Without a group, the user's
// primary group is used.
func LookupOwner(root host.Root, spec string) (host.Owner, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	var uid int
	gid := -1
	if n, err := strconv.Atoi(user); err == nil {
		uid = n
	} else {
		f, err := lookup(root, "/etc/passwd", user)
		if err != nil {
			return host.Owner{}, err
		}
		if uid, err = strconv.Atoi(f[2]); err != nil {
			return host.Owner{}, fmt.Errorf("/etc/passwd: bad uid for %q", user)
		}
		if !hasGroup {
			if gid, err = strconv.Atoi(f[3]); err != nil {
				return host.Owner{}, fmt.Errorf("/etc/passwd: bad gid for %q", user)
			}
		}
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else {
			f, err := lookup(root, "/etc/group", group)
			if err != nil {
				return host.Owner{}, err
			}
			if gid, err = strconv.Atoi(f[2]); err != nil {
				return host.Owner{}, fmt.Errorf("/etc/group: bad gid for %q", group)
			}
		}
	}
	if gid < 0 {
		gid = uid // a numeric user without a group
	}
	return host.Owner{UID: uid, GID: gid}, nil
}

func lookup(root host.Root, file, name string) ([]string, error) {
	b, err := root.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("look up %q: %w", name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("no such %s %q in %s", map[string]string{"/etc/passwd": "user", "/etc/group": "group"}[file], name, file)
}
