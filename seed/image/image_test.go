package image_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed/image"
	"github.com/phoenix-pve/phoenix/seed/source"
)

const tinySeed = "version: 1\nhost:\n  hostname: pve1\n"

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, n := range tools {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (apt-get install dosfstools mtools xorriso)", n)
		}
	}
}

func files(t *testing.T) []image.File {
	big := filepath.Join(t.TempDir(), "big.run")
	data := bytes.Repeat([]byte("0123456789abcdef"), 70000) // 1.1 MB, many clusters
	os.WriteFile(big, data, 0o644)
	fs := []image.File{
		{Path: "seed.yaml", Data: []byte(tinySeed)},
		{Path: "seed.yaml.sig", Data: []byte("sig")},
		{Path: "scripts/setup.sh", Data: []byte("#!/bin/sh\necho hi\n")},
		{Path: "scripts/A Long Name With Spaces.txt", Data: []byte("spaces")},
		{Path: "scripts/SHORT.TXT", Data: []byte("short")},
		{Path: "scripts/short.txt2", Data: []byte("clash?")},
		{Path: "nvidia/NVIDIA-Linux-x86_64-550.run", Source: big},
		{Path: "empty", Data: []byte{}},
	}
	for i := 0; i < 40; i++ { // enough entries to span several directory clusters
		fs = append(fs, image.File{Path: fmt.Sprintf("many/file-number-%02d.conf", i), Data: []byte(fmt.Sprint(i))})
	}
	return fs
}

// checkFAT runs fsck.vfat -n on the filesystem at off and reads every file
// back with mtools.
func checkFAT(t *testing.T, img string, off int64, want []image.File) {
	t.Helper()
	fsImg := img
	if off > 0 {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		fsImg = filepath.Join(t.TempDir(), "part.img")
		os.WriteFile(fsImg, b[off:], 0o644)
	}
	out, err := exec.Command("fsck.vfat", "-n", "-v", fsImg).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("differences")) || bytes.Contains(out, []byte("invalid")) {
		t.Fatalf("fsck.vfat -n: %v\n%s", err, out)
	}
	spec := img
	if off > 0 {
		spec = fmt.Sprintf("%s@@%d", img, off)
	}
	cmd := exec.Command("mdir", "-i", spec, "-/", "::")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=0")
	if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("PHOENIX")) {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	for _, f := range want {
		data := f.Data
		if data == nil {
			data, _ = os.ReadFile(f.Source)
		}
		got, err := exec.Command("mcopy", "-n", "-i", spec, "::"+f.Path, "-").Output()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("mcopy ::%s: %v (got %d bytes, want %d)", f.Path, err, len(got), len(data))
		}
	}
}

// TestFATImages builds FAT images across types and sizes, checks each with
// fsck.vfat and mtools, and reads the seed back through the source package.
func TestFATImages(t *testing.T) {
	need(t, "fsck.vfat", "mdir", "mcopy")
	fs := files(t)
	cases := []struct {
		typ  int
		size int64
	}{
		{0, 0}, {12, 0}, {12, 2 << 20}, {12, 15 << 20}, {16, 0}, {16, 5 << 20}, {16, 33 << 20},
		{16, 300 << 20}, {32, 0}, {32, 34 << 20}, {32, 100<<20 + 512*7}, {32, 600 << 20}, {0, 17 << 20}, {0, 513 << 20},
	}
	for _, c := range cases {
		for _, kind := range []struct {
			name string
			k    image.Kind
			gpt  bool
		}{{"fat", image.FAT, false}, {"usb-mbr", image.USB, false}, {"usb-gpt", image.USB, true}} {
			t.Run(fmt.Sprintf("%s/FAT%d/%dKiB", kind.name, c.typ, c.size>>10), func(t *testing.T) {
				if c.size > 100<<20 && (testing.Short() || kind.k != image.FAT) {
					t.Skip("big sizes are checked on bare FAT images only (the partition would be copied out for fsck)")
				}
				img := filepath.Join(t.TempDir(), "seed.img")
				err := image.Build(img, image.Options{Kind: kind.k, Size: c.size, FATType: c.typ, GPT: kind.gpt}, fs)
				if err != nil {
					t.Fatal(err)
				}
				off := int64(0)
				if kind.k == image.USB {
					off = 1 << 20
					if kind.gpt {
						out, err := exec.Command("sfdisk", "--verify", img).CombinedOutput()
						if err != nil || !strings.Contains(string(out), "No errors detected") {
							t.Fatalf("sfdisk --verify: %v\n%s", err, out)
						}
					}
				}
				checkFAT(t, img, off, fs)
				f, err := source.Locate(context.Background(), source.Options{Root: host.NewDirRoot(t.TempDir()), Devices: []string{img}})
				if err != nil {
					t.Fatal(err)
				}
				if string(f.Data) != tinySeed {
					t.Fatalf("seed %q", f.Data)
				}
				readBack(t, f, fs[6])
			})
		}
	}
}

func TestFATErrors(t *testing.T) {
	fs := files(t)
	dir := t.TempDir()
	for _, c := range []struct {
		o    image.Options
		want string
	}{
		{image.Options{Kind: image.FAT, Size: 1 << 20, FATType: 32}, "cannot hold a valid FAT32"},
		{image.Options{Kind: image.FAT, Size: 1 << 20}, "make the image bigger"},
		{image.Options{Kind: image.FAT, Size: 4 << 20, Label: "WAY TOO LONG LABEL"}, "label"},
	} {
		err := image.Build(filepath.Join(dir, "x.img"), c.o, fs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want %q, got %v", c.o, c.want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.img")); err == nil {
		t.Error("a failed build left an image behind")
	}
}

// TestISOImage builds an ISO, checks it with xorriso, and reads it back.
func TestISOImage(t *testing.T) {
	need(t, "xorriso")
	fs := files(t)
	img := filepath.Join(t.TempDir(), "seed.iso")
	if err := image.Build(img, image.Options{Kind: image.ISO}, fs); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xorriso", "-indev", img, "-pvd_info", "-find", "/", "-type", "f").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	for _, want := range []string{"Volume Id    : PHOENIX", "'/scripts/A Long Name With Spaces.txt'", "'/seed.yaml.sig'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("xorriso output lacks %q:\n%s", want, out)
		}
	}
	f, err := source.Locate(context.Background(), source.Options{Root: host.NewDirRoot(t.TempDir()), Devices: []string{img}})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Data) != tinySeed || !strings.Contains(f.Origin, "iso9660") {
		t.Fatalf("%s: %q", f.Origin, f.Data)
	}
	readBack(t, f, fs[6])
}

// readBack reads a multi-cluster file back through the seed's bundle.
func readBack(t *testing.T, f *source.Found, want image.File) {
	t.Helper()
	rc, err := f.Bundle.Open(want.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(want.Source)
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("%s read back %d bytes, want %d", want.Path, buf.Len(), len(data))
	}
}

// TestReproducible: the same inputs give the same FAT bytes.
func TestReproducible(t *testing.T) {
	fs := files(t)
	var sums [2][]byte
	for i := range sums {
		img := filepath.Join(t.TempDir(), "s.img")
		if err := image.Build(img, image.Options{Kind: image.USB}, fs); err != nil {
			t.Fatal(err)
		}
		sums[i], _ = os.ReadFile(img)
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatal("two builds differ")
	}
}
