package source

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// tinySeed is valid under any validation the seed package may grow.
const tinySeed = "version: 1\nhost:\n  hostname: pve1\n"

func needTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (apt-get install dosfstools mtools xorriso fdisk openssh-client)", n)
		}
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeTree writes files (slash paths) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// mkFAT makes a FAT image with the real tools: mkfs.vfat, then mmd/mcopy.
// extra are more mkfs.vfat flags (-F 12, -f 1...).
func mkFAT(t testing.TB, sizeMiB int, label string, files map[string]string, extra ...string) string {
	t.Helper()
	needTool(t, "mkfs.vfat", "mcopy", "mmd")
	img := filepath.Join(t.TempDir(), "fat.img")
	run(t, "truncate", "-s", itoa(sizeMiB)+"M", img)
	args := append([]string{}, extra...)
	if label != "" {
		args = append(args, "-n", label)
	}
	run(t, "mkfs.vfat", append(args, img)...)
	src := t.TempDir()
	writeTree(t, src, files)
	copyTree(t, img, src)
	return img
}

// copyTree copies a directory tree into a FAT image with mtools.
func copyTree(t testing.TB, img, src string) {
	t.Helper()
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		run(t, "mcopy", "-s", "-i", img, filepath.Join(src, e.Name()), "::/")
	}
}

// mkISO makes an ISO with xorriso in mkisofs mode; flags add -J, -R...
func mkISO(t testing.TB, label string, files map[string]string, flags ...string) string {
	t.Helper()
	needTool(t, "xorriso")
	src := t.TempDir()
	writeTree(t, src, files)
	img := filepath.Join(t.TempDir(), "seed.iso")
	args := append([]string{"-as", "mkisofs", "-quiet", "-o", img, "-V", label}, flags...)
	run(t, "xorriso", append(args, src)...)
	return img
}

// mkPartitioned puts a filesystem image into partition 1 of a new disk
// image laid out by sfdisk ("gpt" or "dos").
func mkPartitioned(t testing.TB, fsImg, label string) string {
	t.Helper()
	needTool(t, "sfdisk")
	fi, err := os.Stat(fsImg)
	if err != nil {
		t.Fatal(err)
	}
	sectors := fi.Size() / 512
	img := filepath.Join(t.TempDir(), "disk.img")
	run(t, "truncate", "-s", itoa(int(fi.Size()/1024/1024)+3)+"M", img)
	typ := "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
	if label == "dos" {
		typ = "c"
	}
	script := "label: " + label + "\nstart=2048, size=" + itoa(int(sectors)) + ", type=" + typ + "\n"
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	run(t, "dd", "if="+fsImg, "of="+img, "bs=512", "seek=2048", "conv=notrunc", "status=none")
	return img
}

func itoa(n int) string { return strconv.Itoa(n) }

// fakeBlock is one device in a fake /sys/class/block.
type fakeBlock struct {
	name      string
	removable bool
	usb       bool
	size      string // "" = 1000
	image     string // the device node points here ("" = no node)
	parts     []string
}

// newRoot makes a temp Root holding a fake sysfs and /dev.
func newRoot(t testing.TB, devs ...fakeBlock) *host.DirRoot {
	t.Helper()
	dir := t.TempDir()
	r := host.NewDirRoot(dir)
	for _, d := range devs {
		addBlock(t, r, d)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sys/class/block"), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

func addBlock(t testing.TB, r *host.DirRoot, d fakeBlock) {
	t.Helper()
	base := r.Path("/sys/devices/pci0000:00/0000:00:1d.0/block/" + d.name)
	if d.usb {
		base = r.Path("/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/" + d.name)
	}
	files := map[string]string{"removable": "0\n", "size": "1000\n"}
	if d.removable {
		files["removable"] = "1\n"
	}
	if d.size != "" {
		files["size"] = d.size + "\n"
	}
	for _, p := range d.parts {
		files[p+"/partition"] = "1\n"
	}
	writeTree(t, base, files)
	link := r.Path("/sys/class/block/" + d.name)
	os.MkdirAll(filepath.Dir(link), 0o755)
	rel, _ := filepath.Rel(filepath.Dir(link), base)
	if err := os.Symlink(rel, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.parts {
		rel, _ := filepath.Rel(filepath.Dir(link), filepath.Join(base, p))
		os.Symlink(rel, r.Path("/sys/class/block/"+p))
	}
	if d.image != "" {
		os.MkdirAll(r.Path("/dev"), 0o755)
		// A hard link, not a symlink: the root resolves symlinks inside
		// itself, so a link to the image's real path would dangle.
		if err := os.Link(d.image, r.Path("/dev/"+d.name)); err != nil {
			t.Fatal(err)
		}
	}
}
