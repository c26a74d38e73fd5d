package testkit

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// Update rewrites golden files instead of comparing: go test ./pkg -update.
var Update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Golden compares got with testdata/<name>.golden (or rewrites it with
// -update). Temp directories in got should already be replaced by the caller
// (see Scrub).
func Golden(t testing.TB, name, got string) {
	t.Helper()
	GoldenFile(t, name+".golden", got)
}

// GoldenFile is Golden for a golden file named in full: testdata/<file>.
func GoldenFile(t testing.TB, file, got string) {
	t.Helper()
	p := filepath.Join("testdata", file)
	if *Update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (rerun with -update if intended)\n--- want\n%s--- got\n%s", p, want, got)
	}
}

// Seed loads a version 1 seed from the YAML body y (the "version: 1" line
// is added), failing the test on error.
func Seed(t testing.TB, y string) *seed.Seed {
	t.Helper()
	s, err := seed.Load("seed.yaml", []byte("version: 1\n"+y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Env is a module Env on run and root for seed s, with its Store in root.
func Env(s *seed.Seed, run host.Runner, root host.Root) *modules.Env {
	return &modules.Env{Seed: s, Runner: run, Root: root, Store: modules.NewStore(root)}
}

// Scrub replaces the real directory of a temp root with $ROOT so call logs
// are stable.
func Scrub(s string, root *host.DirRoot) string {
	return strings.ReplaceAll(s, root.Dir(), "$ROOT")
}

// Root returns a temp Root holding files (in-root path -> content, mode 0644).
func Root(t testing.TB, files map[string]string) *host.DirRoot {
	t.Helper()
	r := host.NewDirRoot(t.TempDir())
	for p, c := range files {
		Write(t, r, p, c)
	}
	return r
}

// Write writes one file into r with mode 0644, failing the test on error.
func Write(t testing.TB, r host.Root, p, content string) {
	t.Helper()
	if err := r.WriteFile(p, []byte(content), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
}

// Read returns the content of p in r, "" when it is missing.
func Read(t testing.TB, r host.Root, p string) string {
	t.Helper()
	b, err := r.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// Dump is a canonical listing of every file under the root: path, mode and
// content (symlinks as "-> target"). Fault and rerun tests compare dumps.
func Dump(t testing.TB, r *host.DirRoot, skip ...string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(r.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, r.Dir())
		for _, s := range skip {
			if ok, _ := filepath.Match(s, rel); ok || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			tgt, _ := os.Readlink(p)
			b.WriteString(rel + " -> " + tgt + "\n")
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.WriteString(rel + " " + fi.Mode().Perm().String() + "\n" + string(data) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Real is a fakehost handler that runs the real tool. Use it only for tools
// that are safe here: validators (visudo -cf) and tools confined to a temp
// root (useradd --root DIR).
func Real(ctx context.Context, c fakehost.Call) fakehost.Result {
	cmd := c.Cmd
	cmd.Stdin = c.Stdin
	out, err := host.NewExecRunner().Run(ctx, cmd)
	res := fakehost.Result{Stdout: string(out.Stdout), Stderr: string(out.Stderr)}
	if err != nil {
		res.Code = host.ExitCode(err)
		if res.Code <= 0 {
			res.Code = 127
			res.Stderr += err.Error()
		}
	}
	return res
}

// Commands returns the lines of a fake runner's log that start with one of
// prefixes, in order: the calls of the tools a test is about.
func Commands(log string, prefixes ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}
