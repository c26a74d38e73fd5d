package source

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var seedFiles = map[string]string{
	"seed.yaml":           tinySeed,
	"scripts/setup.sh":    "#!/bin/sh\necho hi\n",
	"templates/t.tar.zst": "not really a template",
}

// TestReadVolumes reads the seed from images made by the real tools, in
// every supported layout.
func TestReadVolumes(t *testing.T) {
	// On a PROXMOX-AIS volume the bundle is relative to phoenix/.
	ais := map[string]string{"phoenix/seed.yaml": tinySeed, "phoenix/scripts/setup.sh": seedFiles["scripts/setup.sh"], "answer.toml": "x"}
	cases := []struct {
		name   string
		img    func(t *testing.T) string
		fstype string
		seed   string
	}{
		{"fat12", func(t *testing.T) string { return mkFAT(t, 2, "PHOENIX", seedFiles, "-F", "12") }, "vfat", "seed.yaml"},
		{"fat16", func(t *testing.T) string { return mkFAT(t, 20, "PHOENIX", seedFiles, "-F", "16") }, "vfat", "seed.yaml"},
		{"fat32", func(t *testing.T) string { return mkFAT(t, 40, "PHOENIX", seedFiles, "-F", "32") }, "vfat", "seed.yaml"},
		{"fat32 one FAT copy", func(t *testing.T) string { return mkFAT(t, 40, "PHOENIX", seedFiles, "-F", "32", "-f", "1") }, "vfat", "seed.yaml"},
		{"fat16 4k sectors", func(t *testing.T) string { return mkFAT(t, 20, "PHOENIX", seedFiles, "-S", "4096") }, "vfat", "seed.yaml"},
		{"fat lower-case label", func(t *testing.T) string { return mkFAT(t, 4, "phoenix", seedFiles) }, "vfat", "seed.yaml"},
		{"fat in mbr partition", func(t *testing.T) string { return mkPartitioned(t, mkFAT(t, 8, "PHOENIX", seedFiles), "dos") }, "vfat", "seed.yaml"},
		{"fat32 in gpt partition", func(t *testing.T) string {
			return mkPartitioned(t, mkFAT(t, 40, "PHOENIX", seedFiles, "-F", "32"), "gpt")
		}, "vfat", "seed.yaml"},
		{"iso plain", func(t *testing.T) string { return mkISO(t, "PHOENIX", seedFiles) }, "iso9660", "seed.yaml"},
		{"iso joliet", func(t *testing.T) string { return mkISO(t, "PHOENIX", seedFiles, "-J") }, "iso9660", "seed.yaml"},
		{"iso rock ridge", func(t *testing.T) string { return mkISO(t, "PHOENIX", seedFiles, "-R") }, "iso9660", "seed.yaml"},
		{"iso joliet+rock ridge", func(t *testing.T) string { return mkISO(t, "PHOENIX", seedFiles, "-J", "-R") }, "iso9660", "seed.yaml"},
		{"iso hybrid with appended partition", func(t *testing.T) string {
			esp := mkFAT(t, 2, "EFI", map[string]string{"x": "y"})
			return mkISO(t, "PHOENIX", seedFiles, "-J", "-R", "-append_partition", "2", "0xef", esp)
		}, "iso9660", "seed.yaml"},
		{"fat in hybrid iso partition", func(t *testing.T) string {
			stick := mkFAT(t, 4, "PHOENIX", seedFiles)
			return mkISO(t, "DEBIAN", map[string]string{"readme": "x"}, "-J", "-append_partition", "2", "0x0c", stick)
		}, "vfat", "seed.yaml"},
		{"iso in gpt partition", func(t *testing.T) string { return mkPartitioned(t, mkISO(t, "PHOENIX", seedFiles, "-J", "-R"), "gpt") }, "iso9660", "seed.yaml"},
		{"proxmox-ais fat", func(t *testing.T) string { return mkFAT(t, 4, "PROXMOX-AIS", ais) }, "vfat", "phoenix/seed.yaml"},
		{"proxmox-ais iso", func(t *testing.T) string { return mkISO(t, "PROXMOX-AIS", ais, "-J", "-R") }, "iso9660", "phoenix/seed.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := c.img(t)
			f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{img}})
			if err != nil {
				t.Fatal(err)
			}
			if string(f.Data) != tinySeed || f.Name != c.seed {
				t.Fatalf("got %s %q", f.Name, f.Data)
			}
			if !strings.Contains(f.Origin, "("+c.fstype+", label ") {
				t.Errorf("origin %q, want fstype %s", f.Origin, c.fstype)
			}
			checkBundle(t, f)
		})
	}
}

// checkBundle reads a referenced script back through the bundle.
func checkBundle(t *testing.T, f *Found) {
	t.Helper()
	rc, err := f.Bundle.Open("scripts/setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != seedFiles["scripts/setup.sh"] {
		t.Fatalf("bundle read %q, %v", b, err)
	}
}

// TestLoopDevice reads images through read-only loop devices, including an
// ISO on a 512-byte-sector device.
func TestLoopDevice(t *testing.T) {
	needTool(t, "losetup")
	for name, mk := range map[string]func(t *testing.T) string{
		"iso":      func(t *testing.T) string { return mkISO(t, "PHOENIX", seedFiles, "-J", "-R") },
		"fat-gpt":  func(t *testing.T) string { return mkPartitioned(t, mkFAT(t, 8, "PHOENIX", seedFiles), "gpt") },
		"fat-bare": func(t *testing.T) string { return mkFAT(t, 8, "PHOENIX", seedFiles) },
	} {
		t.Run(name, func(t *testing.T) {
			img := mk(t)
			out, err := exec.Command("losetup", "-r", "-f", "--show", "--sector-size", "512", img).CombinedOutput()
			if err != nil {
				t.Skipf("losetup -r not usable in this sandbox: %v: %s", err, out)
			}
			dev := strings.TrimSpace(string(out))
			t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
			f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{dev}})
			if err != nil {
				t.Fatal(err)
			}
			if string(f.Data) != tinySeed {
				t.Fatalf("seed %q", f.Data)
			}
			checkBundle(t, f)
		})
	}
}

// TestRejected covers volumes that must not give a seed, each with a clear reason.
func TestRejected(t *testing.T) {
	cases := []struct {
		name string
		img  func(t *testing.T) string
		want string
	}{
		{"wrong label", func(t *testing.T) string { return mkFAT(t, 4, "USBSTICK", seedFiles) }, `label "USBSTICK" is not PHOENIX`},
		{"no label", func(t *testing.T) string { return mkFAT(t, 4, "", seedFiles) }, "no label"},
		{"labelled without seed", func(t *testing.T) string { return mkFAT(t, 4, "PHOENIX", map[string]string{"a": "b"}) }, "holds no seed.yaml"},
		{"ais without phoenix dir", func(t *testing.T) string { return mkFAT(t, 4, "PROXMOX-AIS", map[string]string{"answer.toml": "b"}) }, "holds no phoenix/seed.yaml"},
		{"no filesystem", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "zero.img")
			os.WriteFile(p, make([]byte, 1<<20), 0o644)
			return p
		}, "no ISO9660 or FAT filesystem and no partition table"},
		{"truncated fat", func(t *testing.T) string {
			img := mkFAT(t, 8, "PHOENIX", seedFiles)
			os.Truncate(img, 64*1024)
			return img
		}, "truncated image"},
		{"truncated iso", func(t *testing.T) string {
			img := mkISO(t, "PHOENIX", seedFiles, "-J")
			os.Truncate(img, 36*1024)
			return img
		}, "truncated image"},
		{"fat with broken chain", func(t *testing.T) string {
			img := mkFAT(t, 4, "PHOENIX", map[string]string{"seed.yaml": strings.Repeat("#", 5000) + "\n" + tinySeed}, "-F", "16", "-s", "1")
			corruptFAT16(t, img)
			return img
		}, "cluster"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := c.img(t)
			_, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{img}})
			if !errors.Is(err, ErrNoSeed) {
				t.Fatalf("want ErrNoSeed, got %v", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), img) {
				t.Fatalf("error does not say %q about %s:\n%v", c.want, img, err)
			}
		})
	}
}

// corruptFAT16 points every FAT16 entry after the reserved two at itself:
// a loop in every chain.
func corruptFAT16(t *testing.T, img string) {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	reserved := int(b[14]) | int(b[15])<<8
	fatSz := int(b[22]) | int(b[23])<<8
	fat := b[reserved*512 : (reserved+fatSz)*512]
	for c := 2; c < 40; c++ {
		fat[2*c], fat[2*c+1] = byte(c), byte(c>>8)
	}
	os.WriteFile(img, b, 0o644)
}

// TestGPT4K reads a GPT laid out for 4096-byte sectors (sfdisk run on a
// 4Kn loop device), with a FAT in its partition.
func TestGPT4K(t *testing.T) {
	needTool(t, "losetup", "sfdisk")
	fat := mkFAT(t, 8, "PHOENIX", seedFiles)
	img := filepath.Join(t.TempDir(), "4k.img")
	run(t, "truncate", "-s", "16M", img)
	out, err := exec.Command("losetup", "-f", "--show", "--sector-size", "4096", img).CombinedOutput()
	if err != nil {
		t.Skipf("losetup --sector-size 4096 not usable in this sandbox: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", dev)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=256, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n")
	out, err = cmd.CombinedOutput()
	exec.Command("losetup", "-d", dev).Run()
	if err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	run(t, "dd", "if="+fat, "of="+img, "bs=4096", "seek=256", "conv=notrunc", "status=none")
	f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{img}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(f.Origin, "partition 1 (vfat, label PHOENIX)") {
		t.Fatalf("origin %q", f.Origin)
	}
	checkBundle(t, f)
}

// TestFATLabelFromBootSector: with no label entry in the root directory,
// the boot sector's label counts.
func TestFATLabelFromBootSector(t *testing.T) {
	img := mkFAT(t, 20, "PHOENIX", seedFiles, "-F", "16")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	reserved := int(b[14]) | int(b[15])<<8
	fatSz := int(b[22]) | int(b[23])<<8
	root := (reserved + int(b[16])*fatSz) * 512
	found := false
	for i := root; i < root+512*32; i += 32 {
		if b[i+11] == 0x08 {
			b[i] = 0xE5 // delete the label entry
			found = true
		}
	}
	if !found {
		t.Fatal("mkfs.vfat wrote no label entry")
	}
	os.WriteFile(img, b, 0o644)
	f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{img}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Origin, "label PHOENIX") {
		t.Fatalf("origin %q", f.Origin)
	}
}
