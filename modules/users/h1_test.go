package users

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// TestH1AuthorizedKeysNotFollowed replays the review's attack: bob points
// ~/.ssh/authorized_keys (or ~/.ssh itself) at a root-only file, or puts a
// FIFO or someone else's file there. The users run refuses; the secret is
// never copied into bob's file and the run never hangs.
func TestH1AuthorizedKeysNotFollowed(t *testing.T) {
	cases := map[string]func(t *testing.T, b *box){
		"symlink to a root-only file": func(t *testing.T, b *box) {
			must(t, os.Remove(b.root.Path("/home/bob/.ssh/authorized_keys")))
			must(t, os.Symlink("/root/secret.key", b.root.Path("/home/bob/.ssh/authorized_keys")))
		},
		"~/.ssh is a symlink to /root/.ssh": func(t *testing.T, b *box) {
			must(t, os.RemoveAll(b.root.Path("/home/bob/.ssh")))
			must(t, os.MkdirAll(b.root.Path("/root/.ssh"), 0o700))
			must(t, os.WriteFile(b.root.Path("/root/.ssh/authorized_keys"), []byte("-----BEGIN PRIVATE KEY----- TOPSECRET\n"), 0o600))
			must(t, os.Symlink("/root/.ssh", b.root.Path("/home/bob/.ssh")))
		},
		"a FIFO": func(t *testing.T, b *box) {
			must(t, os.Remove(b.root.Path("/home/bob/.ssh/authorized_keys")))
			must(t, syscall.Mkfifo(b.root.Path("/home/bob/.ssh/authorized_keys"), 0o600))
		},
		"owned by another user": func(t *testing.T, b *box) {
			must(t, os.Chown(b.root.Path("/home/bob/.ssh/authorized_keys"), 1234, 1234))
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBox(t)
			must(t, b.root.MkdirAll("/root", 0o700, host.Owner{}))
			must(t, b.root.WriteFile("/root/secret.key", []byte("-----BEGIN PRIVATE KEY----- TOPSECRET\n"), 0o600, host.Owner{}))
			plant(t, b)
			done := make(chan error, 1)
			go func() {
				_, err := modules.Apply(context.Background(), New(), b.env)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the users run hangs")
			}
			if !errors.Is(err, host.ErrUnsafe) {
				t.Fatalf("want a refusal (host.ErrUnsafe), got %v", err)
			}
			for _, p := range []string{"/home/bob/.ssh/authorized_keys", "/root/.ssh/authorized_keys", "/root/secret.key"} {
				fi, lerr := os.Lstat(b.root.Path(p))
				if lerr != nil || !fi.Mode().IsRegular() {
					continue
				}
				data, _ := os.ReadFile(b.root.Path(p))
				if strings.Contains(string(data), "TOPSECRET") && strings.Contains(string(data), "ssh-ed25519") {
					t.Fatalf("%s now holds the secret and bob's keys", p)
				}
				if o := host.FileOwner(fi); strings.Contains(string(data), "TOPSECRET") && o.UID == 1000 {
					t.Fatalf("%s (the secret) was given to bob", p)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
