package files

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// File is the wanted state of one in-root path.
type File struct {
	Path  string
	Data  []byte
	Mode  fs.FileMode
	Owner host.Owner
	// Link, when set, makes Path a symlink to Link (Data is ignored).
	Link string
	// Absent makes sure Path does not exist.
	Absent bool
	// Dir makes Path a directory with Mode and Owner.
	Dir bool
	// IfMissing only creates Path: an existing one is left as it is (a
	// home directory the admin set up).
	IfMissing bool
	// Why describes the change for Check and Result.Changed ("set hostname
	// pve1"); the path is used when empty. Never a secret.
	Why string
}

// String is what Check reports for f.
func (f File) String() string {
	if f.Why != "" {
		return f.Path + ": " + f.Why
	}
	switch {
	case f.Absent:
		return f.Path + ": remove"
	case f.Link != "":
		return f.Path + ": link to " + f.Link
	}
	return f.Path + ": write"
}

// Pending reports whether f differs from what the root holds.
func (f File) Pending(r host.Root) (bool, error) {
	fi, err := r.Lstat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return !f.Absent, nil
	}
	if err != nil {
		return false, err
	}
	if f.Absent {
		return true, nil
	}
	if f.IfMissing {
		return false, nil
	}
	if f.Dir {
		return !fi.IsDir() || fi.Mode().Perm() != f.Mode.Perm() || !ownerIs(fi, f.Owner), nil
	}
	if f.Link != "" {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return true, nil
		}
		t, err := r.Readlink(f.Path)
		return err != nil || t != f.Link, nil
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != f.Mode.Perm() || !ownerIs(fi, f.Owner) {
		return true, nil
	}
	old, err := r.ReadFile(f.Path)
	if err != nil {
		return false, err
	}
	return !bytes.Equal(old, f.Data), nil
}

func ownerIs(fi fs.FileInfo, o host.Owner) bool {
	return host.FileOwner(fi) == o || !canChown()
}

// Apply converges f and reports whether it changed anything.
func (f File) Apply(r host.Root) (bool, error) {
	pending, err := f.Pending(r)
	if err != nil || !pending {
		return false, err
	}
	switch {
	case f.Absent:
		err = r.Remove(f.Path)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	case f.Link != "":
		err = r.Symlink(f.Link, f.Path)
	case f.Dir:
		if fi, lerr := r.Lstat(f.Path); lerr == nil && !fi.IsDir() {
			err = fmt.Errorf("exists and is not a directory")
			break
		}
		if err = r.MkdirAll(f.Path, f.Mode, f.Owner); err == nil {
			if err = r.Chmod(f.Path, f.Mode); err == nil {
				err = r.Chown(f.Path, f.Owner)
			}
		}
	default:
		if fi, lerr := r.Lstat(f.Path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// Replace a symlink itself, never write through it.
			if err = r.Remove(f.Path); err != nil {
				break
			}
		}
		err = r.WriteFile(f.Path, f.Data, f.Mode, f.Owner)
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.Path, err)
	}
	return true, nil
}

// Plan is the files of one module.
type Plan []File

// Pending lists the files that differ, as Check reports them.
func (p Plan) Pending(r host.Root) ([]string, error) {
	var out []string
	for _, f := range p {
		pending, err := f.Pending(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		if pending {
			out = append(out, f.String())
		}
	}
	return out, nil
}

// Apply converges every file and lists what changed.
func (p Plan) Apply(r host.Root) ([]string, error) {
	var out []string
	for _, f := range p {
		changed, err := f.Apply(r)
		if err != nil {
			return out, err
		}
		if changed {
			out = append(out, f.String())
		}
	}
	return out, nil
}

// Snapshot is the state of some files before a change, to roll back to.
type Snapshot struct {
	Files []Saved `json:"files"`
}

// Saved is one file's previous state: content and mode, a symlink target,
// or absence.
type Saved struct {
	Path   string      `json:"path"`
	Exists bool        `json:"exists"`
	Data   []byte      `json:"data,omitempty"`
	Mode   fs.FileMode `json:"mode,omitempty"`
	Link   string      `json:"link,omitempty"`
}

// Save records the current state of paths.
func Save(r host.Root, paths ...string) (Snapshot, error) {
	var s Snapshot
	for _, p := range paths {
		fi, err := r.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			s.Files = append(s.Files, Saved{Path: p})
			continue
		}
		if err != nil {
			return s, err
		}
		sv := Saved{Path: p, Exists: true, Mode: fi.Mode().Perm()}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if sv.Link, err = r.Readlink(p); err != nil {
				return s, err
			}
		} else if sv.Data, err = r.ReadFile(p); err != nil {
			return s, err
		}
		s.Files = append(s.Files, sv)
	}
	return s, nil
}

// Plan turns the snapshot back into wanted files, to restore it.
func (s Snapshot) Plan() Plan {
	var p Plan
	for _, f := range s.Files {
		p = append(p, File{Path: f.Path, Data: f.Data, Mode: f.Mode, Link: f.Link, Absent: !f.Exists, Why: "restore"})
	}
	return p
}

// Converge makes each pending file through s (a dry run only lists it)
// and returns the descriptions of those that differed. It is Pending and
// Apply in one pass, so a module's plan and its Apply list the same files.
func (p Plan) Converge(s *modules.Steps) ([]string, error) {
	var out []string
	for _, f := range p {
		pending, err := f.Pending(s.Env.Root)
		if err != nil {
			return out, fmt.Errorf("%s: %w", f.Path, err)
		}
		if !pending {
			continue
		}
		err = s.DoQuiet(f.String(), func() error {
			_, err := f.Apply(s.Env.Root)
			return err
		})
		if err != nil {
			return out, err
		}
		out = append(out, f.String())
	}
	return out, nil
}
