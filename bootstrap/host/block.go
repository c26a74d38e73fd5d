package host

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
)

// Managed blocks let Phoenix own part of a file it shares with the admin
// (/etc/exports, smb.conf, /etc/hosts): only the lines between the markers are
// Phoenix's; everything else is kept byte for byte.

func blockMarkers(id string) (begin, end []byte) {
	return []byte("# BEGIN PHOENIX " + id + " (managed by phoenix; edits here are overwritten)\n"),
		[]byte("# END PHOENIX " + id + "\n")
}

// SetBlock returns content with the block id set to body (an empty body
// removes the block). A new block is appended at the end.
func SetBlock(content []byte, id string, body []byte) ([]byte, error) {
	begin, end := blockMarkers(id)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		body = append(append([]byte{}, body...), '\n')
	}
	var block []byte
	if len(body) > 0 {
		block = append(append(append([]byte{}, begin...), body...), end...)
	}
	i := bytes.Index(content, begin)
	if i < 0 {
		if bytes.Contains(content, end) {
			return nil, fmt.Errorf("managed block %q: end marker without begin marker", id)
		}
		if len(block) == 0 {
			return content, nil
		}
		out := append([]byte{}, content...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, block...), nil
	}
	j := bytes.Index(content[i:], end)
	if j < 0 {
		return nil, fmt.Errorf("managed block %q: begin marker without end marker", id)
	}
	j += i + len(end)
	out := append([]byte{}, content[:i]...)
	out = append(out, block...)
	return append(out, content[j:]...), nil
}

// GetBlock returns the body of block id, and whether it is present.
func GetBlock(content []byte, id string) ([]byte, bool) {
	begin, end := blockMarkers(id)
	i := bytes.Index(content, begin)
	if i < 0 {
		return nil, false
	}
	rest := content[i+len(begin):]
	j := bytes.Index(rest, end)
	if j < 0 {
		return nil, false
	}
	return rest[:j], true
}

// EditBlock sets block id of file p in root to body, keeping the rest of the
// file and its mode. A missing file is created with mode. It reports whether
// the file changed.
func EditBlock(r Root, p, id string, body []byte, mode fs.FileMode) (bool, error) {
	old, err := r.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err == nil {
		if fi, err := r.Stat(p); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	updated, err := SetBlock(old, id, body)
	if err != nil {
		return false, fmt.Errorf("%s: %w", p, err)
	}
	if bytes.Equal(old, updated) {
		return false, nil
	}
	return true, r.WriteFile(p, updated, mode, Owner{})
}

// WriteIfChanged writes p only when its content, mode or owner differ, so that
// reruns touch nothing. It reports whether it wrote.
func WriteIfChanged(r Root, p string, data []byte, mode fs.FileMode, owner Owner) (bool, error) {
	old, err := r.ReadFile(p)
	if err == nil && bytes.Equal(old, data) {
		if fi, err := r.Stat(p); err == nil && fi.Mode().Perm() == mode.Perm() && ownerMatches(fi, owner) {
			return false, nil
		}
	}
	return true, r.WriteFile(p, data, mode, owner)
}
