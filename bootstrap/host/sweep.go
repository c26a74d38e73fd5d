package host

import (
	"errors"
	"io/fs"
	"path"
	"regexp"
)

// tempName matches the names of WriteFile's temporary files: renameio's
// ("." + base + digits, os.CreateTemp's random part) and writeNoSync's
// ("." + base + noSyncTemp + digits).
var tempName = regexp.MustCompile(`^\..+?(` + regexp.QuoteMeta(noSyncTemp) + `)?[0-9]+$`)

// SweepTemp removes, under dir and depth levels of directories below it,
// the temporary files of WriteFile calls that never reached their rename:
// a power cut between the temp file's create and the rename leaves one
// beside its target, where it lies for ever (found by make powercut:
// docs/perf/powercut.md). Only for directories Phoenix alone writes (its
// state tree): elsewhere a dot file with digits may be someone else's. It
// never follows a symlink and removes only regular files; it returns the
// in-root paths it removed.
func SweepTemp(r Root, dir string, depth int) ([]string, error) {
	ents, err := r.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		switch {
		case e.Type().IsDir() && depth > 0:
			sub, err := SweepTemp(r, p, depth-1)
			removed = append(removed, sub...)
			if err != nil {
				return removed, err
			}
		case e.Type().IsRegular() && tempName.MatchString(e.Name()):
			if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, err
			}
			removed = append(removed, p)
		}
	}
	return removed, nil
}
