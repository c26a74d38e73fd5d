package fetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/fetch"
	"github.com/phoenix-pve/phoenix/modules/internal/fetch/fake"
)

const url = "https://example.com/files/debian-12.tar.zst"

var body = []byte("a template\n")

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// entries lists dir, so a test sees a leftover part file.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestDownload(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		want     string
		kept     bool
		mismatch bool
		code     int // curl's exit code, 0 if curl succeeded
	}{
		{name: "verified", url: url, want: sum(body), kept: true},
		{name: "prefixed digest", url: url, want: "sha256:" + strings.ToUpper(sum(body)), kept: true},
		{name: "unchecked", url: url, want: "", kept: true},
		{name: "bad checksum", url: url, want: strings.Repeat("0", 64), mismatch: true},
		{name: "404", url: url + ".missing", want: sum(body), code: 22},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "debian-12.tar.zst")
			r := fakehost.New()
			srv := &fake.Server{Files: map[string][]byte{url: body}}
			srv.Register(r)
			err := fetch.Download(context.Background(), r, tc.url, dst, tc.want)
			if got := r.Log(); got != "curl -fsSL --retry 3 -o "+dst+".part "+tc.url+"\n" {
				t.Errorf("commands:\n%s", got)
			}
			var mm *fetch.MismatchError
			switch {
			case tc.kept && err != nil:
				t.Fatal(err)
			case tc.mismatch && (!errors.As(err, &mm) || mm.Got != sum(body) || mm.Want != tc.want):
				t.Fatalf("want a checksum mismatch, got %v", err)
			case tc.code != 0 && host.ExitCode(err) != tc.code:
				t.Fatalf("want curl's exit code %d, got %v", tc.code, err)
			}
			names := entries(t, dir)
			if !tc.kept {
				if len(names) != 0 {
					t.Errorf("a failed download left %q", names)
				}
				return
			}
			if len(names) != 1 || names[0] != filepath.Base(dst) {
				t.Errorf("directory holds %q", names)
			}
			got, err := os.ReadFile(dst)
			if err != nil || string(got) != string(body) {
				t.Errorf("dst holds %q (%v)", got, err)
			}
			if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v (%v)", fi.Mode(), err)
			}
		})
	}
}

// A transfer cut half-way (curl exit 18 after writing part of the file)
// leaves nothing behind.
func TestDownloadCut(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "f.run")
	r := fakehost.New()
	r.Handle("curl", func(_ context.Context, c fakehost.Call) fakehost.Result {
		_, out, _ := fake.ParseArgs(c.Cmd.Args)
		os.WriteFile(out, body[:3], 0o644)
		return fakehost.Fail(18, "curl: (18) transfer closed with outstanding read data remaining\n")
	})
	err := fetch.Download(context.Background(), r, url, dst, sum(body))
	if host.ExitCode(err) != 18 {
		t.Fatalf("want curl's error, got %v", err)
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("a cut download left %q", names)
	}
}

func TestVerify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := fetch.Verify(p, ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(p, body, 0o644)
	var mm *fetch.MismatchError
	for want, ok := range map[string]bool{"": true, sum(body): true, "sha256:" + sum(body): true, sum(nil): false} {
		err := fetch.Verify(p, want)
		if ok != (err == nil) || !ok && !errors.As(err, &mm) {
			t.Errorf("Verify(%q) = %v", want, err)
		}
	}
}
