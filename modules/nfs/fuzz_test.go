package nfs_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/modules/nfs"
	"github.com/phoenix-pve/phoenix/seed"
)

// FuzzRenderExports: an export path and client as a seed gives them are
// refused by validation, or rendered so that an exports(5) parser reads
// back the same path and client. Two parsers read it: the module's own
// ParseExports (it follows nfs-utils support/nfs/exports.c: quotes, \ooo
// escapes, continuation), and, with PHOENIX_EXPORTFS set (make test sets
// it: nfs-utils' exportfs from an extracted nfs-kernel-server .deb), the
// real exportfs, through testdata/exportfs.sh, whose etab (what exportfs
// parsed) must hold that path and client. The real check needs an
// existing directory, so the fuzzed path is put under a temporary
// directory there.
//
//	make build/nfs-kernel-server
//	PHOENIX_EXPORTFS=$PWD/build/nfs-kernel-server/usr/sbin/exportfs go test ./modules/nfs -run '^$' -fuzz '^FuzzRenderExports$' -parallel 1 -fuzztime 5m
func FuzzRenderExports(f *testing.F) {
	for _, s := range [][2]string{{"/tank/media", "10.0.0.0/8"}, {"/srv/a b", "*"}, {`/srv/"q"`, "@g"}, {"/srv/x\\", "h"}, {"/srv/#c", "*.lan"},
		{"/srv/a", "nas.lab"}, {"/srv/é", "fd00::/64"}, {"/srv/a(rw)", "10.0.0.1"}, {"/srv/-x", "-h"}} {
		f.Add(s[0], s[1])
	}
	exportfs := os.Getenv("PHOENIX_EXPORTFS")
	script, _ := filepath.Abs("testdata/exportfs.sh")
	base := f.TempDir()
	if exportfs == "" {
		f.Log("PHOENIX_EXPORTFS not set: the module's parser only (make build/nfs-kernel-server for the real exportfs)")
	} else if out, err := exec.Command(script, exportfs, os.DevNull, filepath.Join(base, "probe")).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 125 {
			f.Fatalf("exportfs on an empty file: %v\n%s", err, out)
		}
		f.Logf("the real exportfs needs a private mount namespace (root): the module's parser only (%s)", out)
		exportfs = ""
	}
	f.Fuzz(func(t *testing.T, p, host string) {
		check := func(p string) (*seed.Seed, []nfs.Entry) {
			doc := map[string]any{"version": 1, "nfs": map[string]any{"exports": []any{
				map[string]any{"path": p, "clients": []any{map[string]any{"host": host, "options": []string{"ro"}}}},
			}}}
			data, _ := json.Marshal(doc)
			s, err := seed.Load("seed.json", data)
			if err != nil {
				return nil, nil
			}
			want, err := nfs.Build(s.NFS)
			if err != nil {
				t.Fatalf("validation accepts what the module refuses: %v\n%s", err, data)
			}
			got, err := nfs.ParseExports(nfs.Render(want))
			if err != nil {
				t.Fatalf("rendering of %q %q does not parse: %v\n%s", p, host, err, nfs.Render(want))
			}
			if len(got) != 1 || got[0].Path != want[0].Path || len(got[0].Clients) != 1 || got[0].Clients[0].Host != want[0].Clients[0].Host {
				t.Fatalf("%q %q reads back as %+v\n%s", p, host, got, nfs.Render(want))
			}
			return s, want
		}
		check(p)
		if exportfs == "" {
			return
		}
		s, want := check(base + "/" + strings.TrimPrefix(p, "/"))
		if s == nil {
			return
		}
		dir := want[0].Path
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Skipf("%s: %v", dir, err)
		}
		defer os.RemoveAll(filepath.Join(base, strings.Split(strings.TrimPrefix(dir, base+"/"), "/")[0]))
		work := t.TempDir()
		file := filepath.Join(work, "exports")
		if err := os.WriteFile(file, []byte(nfs.Render(want)), 0o644); err != nil {
			t.Fatal(err)
		}
		hosts := ""
		if _, err := netip.ParsePrefix(host); err != nil && !strings.ContainsAny(host, "*?[@/:") {
			// A host name resolves offline through the namespace's hosts.
			if _, err := netip.ParseAddr(host); err != nil {
				hosts = "10.9.9.9 " + host
			}
		}
		out, err := exec.Command(script, exportfs, file, filepath.Join(work, "w"), hosts).Output()
		if err != nil {
			var ee *exec.ExitError
			_ = errors.As(err, &ee)
			t.Fatalf("exportfs refuses the rendering of %q %q: %v %s\n%s", p, host, err, ee.Stderr, nfs.Render(want))
		}
		got, err := nfs.ParseExports(string(out))
		if err != nil || len(got) != 1 || got[0].Path != dir || len(got[0].Clients) != 1 || !strings.EqualFold(got[0].Clients[0].Host, want[0].Clients[0].Host) {
			t.Fatalf("%q %q: exportfs read %+v (%v)\nrendered:\n%s\netab:\n%s", p, host, got, err, nfs.Render(want), out)
		}
	})
}
