package kernel

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/seed"
)

// FuzzRenderModprobe: a blacklisted module and a module's options as a
// seed gives them are refused by validation or rendered into
// /etc/modprobe.d/phoenix.conf so that the real modprobe.d parser
// (libkmod, `modprobe -C DIR --showconfig`) reads back exactly that
// blacklist line and that options line, with no error and nothing else.
// kmod writes module names with _ for - (libkmod-util.c underscores),
// which names the same module.
//
//	go test ./modules/kernel -run '^$' -fuzz '^FuzzRenderModprobe$' -parallel 1 -fuzztime 5m
func FuzzRenderModprobe(f *testing.F) {
	modprobe, err := exec.LookPath("modprobe")
	if err != nil {
		f.Skip("modprobe (kmod) not installed")
	}
	showconfig := func(dir string) (lines []string, stderr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, modprobe, "-C", dir, "--showconfig")
		var e strings.Builder
		cmd.Stderr = &e
		out, err := cmd.Output()
		if err != nil {
			f.Fatalf("modprobe --showconfig: %v\n%s", err, e.String())
		}
		for _, l := range strings.Split(string(out), "\n") {
			// The config part ends here; the module indexes follow.
			if strings.HasPrefix(l, "# End of configuration files") {
				break
			}
			lines = append(lines, l)
		}
		return lines, e.String()
	}
	// What the kernel command line (kmod reads /proc/cmdline) and the
	// empty directory give.
	base, _ := showconfig(f.TempDir())
	for _, s := range [][3]string{{"nouveau", "zfs", "zfs_arc_max=8589934592"}, {"snd-pcm", "kvm-amd", "nested=1 avic=1"},
		{"a", "b", "x=1  y=2"}, {"i915", "vfio_pci", "ids=10de:1b80,10de:10f0"}, {"n", "m", " a=1 "}, {"p", "q", "a=1\nblacklist r"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, bl, mod, opts string) {
		doc := map[string]any{"version": 1, "kernel": map[string]any{"blacklist": []string{bl}, "options": map[string]string{mod: opts}}}
		data, _ := json.Marshal(doc)
		s, err := seed.Load("seed.json", data)
		if err != nil {
			return // refused by validation
		}
		k := s.Kernel
		dir := t.TempDir()
		conf := modprobeConf(k)
		if err := os.WriteFile(filepath.Join(dir, "phoenix.conf"), conf, 0o644); err != nil {
			t.Fatal(err)
		}
		got, stderr := showconfig(dir)
		if stderr != "" {
			t.Fatalf("modprobe: %s\n%s", stderr, conf)
		}
		for _, l := range base {
			if i := slices.Index(got, l); i >= 0 {
				got = slices.Delete(got, i, i+1)
			}
		}
		u := func(n string) string { return strings.ReplaceAll(n, "-", "_") }
		want := []string{"blacklist " + u(k.Blacklist[0]), "options " + u(mod) + " " + k.Options[mod]}
		got = slices.DeleteFunc(got, func(l string) bool { return l == "" })
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("modprobe reads back %q, want %q\n%s", got, want, conf)
		}
	})
}
