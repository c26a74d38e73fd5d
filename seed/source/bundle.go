package source

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
)

// Bundle is the set of files that came with a seed: the directory holding a
// seed file, or the volume holding seed.yaml. Paths are seed-relative
// ("scripts/setup.sh") and may not leave the bundle.
type Bundle interface {
	// Open opens a seed-relative file for reading.
	Open(rel string) (io.ReadCloser, error)
	// String says where the bundle lives, for messages.
	String() string
}

// ErrEscape is returned for a referenced path that would leave the bundle:
// an absolute path, a ".." element, or a symlink pointing out.
var ErrEscape = errors.New("path escapes the seed volume")

// CleanRel checks a seed-relative path and returns it cleaned. Backslashes
// are refused too: on a FAT volume made on Windows they would be separators.
func CleanRel(rel string) (string, error) {
	if rel == "" {
		return "", fmt.Errorf("empty path: %w", ErrEscape)
	}
	if strings.HasPrefix(rel, "/") || strings.Contains(rel, `\`) {
		return "", fmt.Errorf("%q: absolute path: %w", rel, ErrEscape)
	}
	for _, el := range strings.Split(rel, "/") {
		if el == ".." {
			return "", fmt.Errorf("%q: '..' element: %w", rel, ErrEscape)
		}
	}
	c := path.Clean(rel)
	if c == "." {
		return "", fmt.Errorf("%q: not a file: %w", rel, ErrEscape)
	}
	return c, nil
}

// DirBundle is the bundle of a seed file on this machine: the directory
// holding it (what `phoenix seed sign` hashes into the manifest).
func DirBundle(dir string) Bundle { return dirBundle{dir: dir} }

// dirBundle is the directory next to a seed file, as a real path.
type dirBundle struct{ dir string }

func (b dirBundle) String() string { return b.dir }

func (b dirBundle) Open(rel string) (io.ReadCloser, error) {
	c, err := CleanRel(rel)
	if err != nil {
		return nil, err
	}
	base, err := filepath.EvalSymlinks(b.dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", b.dir, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(b.dir, filepath.FromSlash(c)))
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", c, err)
	}
	if r, err := filepath.Rel(base, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return nil, fmt.Errorf("%q: symlink to %s: %w", c, real, ErrEscape)
	}
	return os.Open(real)
}

// Referenced lists the seed-relative files a seed refers to, sorted and
// without duplicates: LXC provisioning scripts, container template files, the
// NVIDIA runfile, and relative Samba password files. These are what the
// engine copies into the state directory with CopyBundle.
func Referenced(s *seed.Seed) []string {
	set := map[string]bool{}
	if s.NVIDIA != nil && s.NVIDIA.Runfile != nil && s.NVIDIA.Runfile.File != "" {
		set[s.NVIDIA.Runfile.File] = true
	}
	if s.Samba != nil {
		for _, u := range s.Samba.Users {
			if u.PasswordFile != "" && !strings.HasPrefix(u.PasswordFile, "/") {
				set[u.PasswordFile] = true
			}
		}
	}
	if s.LXC != nil {
		for _, c := range s.LXC.Containers {
			if c == nil {
				continue
			}
			if c.TemplateFile != "" {
				set[c.TemplateFile] = true
			}
			if c.Provision != nil {
				for _, sc := range c.Provision.Scripts {
					if sc.File != "" {
						set[sc.File] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// SumsFile is the manifest CopyBundle writes next to the copied files, in
// sha256sum(1) format so an admin can check it with `sha256sum -c`.
const SumsFile = "SHA256SUMS"

// CopyBundle copies the seed-relative paths from the seed's bundle into dir
// (an in-root directory, e.g. /var/lib/phoenix/bundle) with mode 0600, and
// returns path -> "sha256:HEX". It writes dir/SHA256SUMS too. Each file is
// streamed to a temp file, fsynced and renamed, so a crash leaves either the
// old or the new file, and a 4 GB template never sits in memory.
func (f *Found) CopyBundle(root host.Root, dir string, paths []string) (map[string]string, error) {
	sums := map[string]string{}
	if len(paths) == 0 {
		return sums, nil
	}
	if f.Bundle == nil {
		return nil, fmt.Errorf("seed bundle: %s has no bundle to copy %s from", f.Origin, paths[0])
	}
	var manifest strings.Builder
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	for _, p := range sorted {
		c, err := CleanRel(p)
		if err != nil {
			return nil, fmt.Errorf("seed bundle: %w", err)
		}
		if _, dup := sums[c]; dup {
			continue
		}
		sum, err := copyOne(root, f.Bundle, c, path.Join(dir, c), f.Manifest)
		if err != nil {
			return nil, fmt.Errorf("seed bundle: copy %s from %s: %w", c, f.Bundle, err)
		}
		sums[c] = "sha256:" + sum
		fmt.Fprintf(&manifest, "%s  %s\n", sum, c)
	}
	if err := root.WriteFile(path.Join(dir, SumsFile), []byte(manifest.String()), 0o600, host.Owner{}); err != nil {
		return nil, fmt.Errorf("seed bundle: %w", err)
	}
	return sums, nil
}

// copyOne copies one file; with a signed manifest, a file that is not
// listed or differs from it is refused before it replaces anything.
func copyOne(root host.Root, b Bundle, rel, dst string, man *Manifest) (string, error) {
	if man != nil {
		if _, ok := man.Files[rel]; !ok {
			return "", man.CheckFile(rel, "")
		}
	}
	in, err := b.Open(rel)
	if err != nil {
		return "", err
	}
	defer in.Close()
	if err := root.MkdirAll(path.Dir(dst), 0o700, host.Owner{}); err != nil {
		return "", err
	}
	real := root.Path(dst)
	tmp, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if man != nil {
		if err := man.CheckFile(rel, "sha256:"+sum); err != nil {
			return "", err
		}
	}
	if err := tmp.Chmod(0o600); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), real); err != nil {
		return "", err
	}
	if d, err := os.Open(filepath.Dir(real)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return sum, nil
}

// isNotExist reports a missing file through any wrapping.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
