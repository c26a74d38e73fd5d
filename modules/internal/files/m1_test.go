package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// TestM1OwnerModeNotThroughSymlinks replays the review's attack: /srv/public
// is a 0777 share, a user plants drop -> /etc (or a link higher up), and
// the seed has a share or dataset at /srv/public/drop with mode 0777. The
// shared owner/mode step (zfs datasets and samba shares) refuses; /etc
// keeps its mode.
func TestM1OwnerModeNotThroughSymlinks(t *testing.T) {
	for name, share := range map[string]string{
		"the share path itself":  "/srv/public/drop",
		"a link on the way down": "/srv/public/up/pve",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := host.NewDirRoot(dir)
			for _, d := range []string{"/etc/pve", "/srv/public"} {
				if err := r.MkdirAll(d, 0o755, host.Owner{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(r.Path("/srv/public"), 0o777); err != nil {
				t.Fatal(err)
			}
			for link, target := range map[string]string{"/srv/public/drop": "/etc", "/srv/public/up": "/etc"} {
				// r.Path would resolve the link: name it in the real tree.
				if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
					t.Fatal(err)
				}
				_ = os.Lchown(filepath.Join(dir, link), 1000, 1000) // the user's link (as root)
			}
			do := func(_ string, f func() error) error {
				if f == nil {
					return nil
				}
				return f()
			}
			err := ApplyOwnerMode(r, share, "", "0777", false, do)
			if os.Geteuid() == 0 && !errors.Is(err, host.ErrUnsafe) {
				t.Fatalf("want a refusal (host.ErrUnsafe), got %v", err)
			}
			if name == "the share path itself" && !errors.Is(err, host.ErrUnsafe) {
				t.Fatalf("want a refusal (host.ErrUnsafe), got %v", err)
			}
			for _, d := range []string{"/etc", "/etc/pve"} {
				fi, err := os.Stat(r.Path(d))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o755 {
					t.Fatalf("%s is now %v", d, fi.Mode().Perm()&fs.ModePerm)
				}
			}
		})
	}
}
