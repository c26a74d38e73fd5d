package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

func put(t *testing.T, r host.Root, p, data string) {
	t.Helper()
	if err := r.WriteFile(p, []byte(data), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
}

func TestPrecedence(t *testing.T) {
	stick := mkFAT(t, 4, "PHOENIX", map[string]string{"seed.yaml": "version: 1 # stick\n"})
	other := mkFAT(t, 4, "OTHER", map[string]string{"seed.yaml": "version: 1 # other\n"})
	flagFile := filepath.Join(t.TempDir(), "flag.yaml")
	os.WriteFile(flagFile, []byte("version: 1 # flag\n"), 0o600)
	cases := []struct {
		name    string
		cmdline string
		local   bool
		flag    string
		want    string // comment in the seed, or "disabled"
		origin  string
	}{
		{"volume only", "", false, "", "stick", "volume " + stick},
		{"local beats volume", "", true, "", "local", "file /etc/phoenix/seed.yaml"},
		{"cmdline path beats local", "quiet phoenix.seed=/srv/s.yaml", true, "", "cmdline", "cmdline /srv/s.yaml"},
		{"cmdline label picks that label", "phoenix.seed=label:other", true, "", "other", "volume " + other},
		{"flag beats all", "phoenix.seed=/srv/s.yaml phoenix.disable", true, flagFile, "flag", "flag " + flagFile},
		{"disable", "ro phoenix.disable quiet", true, "", "disabled", "cmdline phoenix.disable"},
		{"disable=0 does not disable", "phoenix.disable=0", true, "", "local", "file /etc/phoenix/seed.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRoot(t)
			put(t, r, "/srv/s.yaml", "version: 1 # cmdline\n")
			if c.cmdline != "" {
				put(t, r, "/proc/cmdline", c.cmdline+"\n")
			}
			if c.local {
				put(t, r, "/etc/phoenix/seed.yaml", "version: 1 # local\n")
			}
			f, err := Locate(context.Background(), Options{Root: r, Flag: c.flag, Devices: []string{stick, other}})
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "disabled" {
				if !f.Disabled {
					t.Fatalf("not disabled: %+v", f)
				}
			} else if !strings.Contains(string(f.Data), "# "+c.want) {
				t.Fatalf("got seed %q, want # %s", f.Data, c.want)
			}
			if !strings.HasPrefix(f.Origin, c.origin) {
				t.Errorf("origin %q, want prefix %q", f.Origin, c.origin)
			}
		})
	}
}

func TestExplicitSourceMissing(t *testing.T) {
	r := newRoot(t)
	put(t, r, "/etc/phoenix/seed.yaml", tinySeed)
	if _, err := Locate(context.Background(), Options{Root: r, Flag: "/nonexistent/seed.yaml"}); err == nil || errors.Is(err, ErrNoSeed) {
		t.Fatalf("missing --seed file must be an error of its own, got %v", err)
	}
	put(t, r, "/proc/cmdline", "phoenix.seed=/nope.yaml")
	if _, err := Locate(context.Background(), Options{Root: r}); err == nil || !strings.Contains(err.Error(), "/nope.yaml") {
		t.Fatalf("missing cmdline file: %v", err)
	}
	put(t, r, "/proc/cmdline", "phoenix.seed=relative.yaml")
	if _, err := Locate(context.Background(), Options{Root: r}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("relative cmdline path: %v", err)
	}
}

// TestScanSysfs finds the stick among fake sysfs devices and reports why
// every other device was skipped.
func TestScanSysfs(t *testing.T) {
	stick := mkPartitioned(t, mkFAT(t, 8, "PHOENIX", seedFiles), "gpt")
	blank := filepath.Join(t.TempDir(), "blank.img")
	os.WriteFile(blank, make([]byte, 1<<20), 0o644)
	r := newRoot(t,
		fakeBlock{name: "sda", image: blank, parts: []string{"sda1", "sda2"}},
		fakeBlock{name: "sdb", usb: true, image: stick, parts: []string{"sdb1"}},
		fakeBlock{name: "sdc", removable: true, image: blank},
		fakeBlock{name: "sr0", removable: true, size: "0"},
		fakeBlock{name: "loop0", image: blank},
		fakeBlock{name: "nvme0n1", image: blank, parts: []string{"nvme0n1p1"}},
		fakeBlock{name: "vda", image: blank},
	)
	var logs []string
	f, err := Locate(context.Background(), Options{Root: r, Wait: -1, Log: func(s string) { logs = append(logs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if f.Origin != "volume /dev/sdb1 (vfat, label PHOENIX)" {
		t.Fatalf("origin %q", f.Origin)
	}
	checkBundle(t, f)

	// Without the stick, the error lists every device and why.
	os.Remove(r.Path("/dev/sdb"))
	os.Link(blank, r.Path("/dev/sdb"))
	_, err = Locate(context.Background(), Options{Root: r, Wait: -1})
	if !errors.Is(err, ErrNoSeed) {
		t.Fatalf("want ErrNoSeed, got %v", err)
	}
	for _, want := range []string{
		"/dev/sda: fixed disk (not removable, USB, CD-ROM or virtio)",
		"/dev/nvme0n1: fixed disk",
		"/dev/vda: no ISO9660 or FAT filesystem",
		"/dev/sdb: no ISO9660 or FAT filesystem",
		"/dev/sdc: no ISO9660 or FAT filesystem",
		"/dev/sr0: no medium",
		"/dev/loop0: virtual device",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("report lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "sda1") {
		t.Errorf("partitions are probed through their disk, not listed:\n%v", err)
	}
}

// TestTwoVolumes picks the first by device name, every time, and warns.
func TestTwoVolumes(t *testing.T) {
	a := mkFAT(t, 4, "PHOENIX", map[string]string{"seed.yaml": "version: 1 # a\n"})
	b := mkISO(t, "PHOENIX", map[string]string{"seed.yaml": "version: 1 # b\n"}, "-J")
	for i := 0; i < 3; i++ {
		r := newRoot(t,
			fakeBlock{name: "sr0", removable: true, image: b},
			fakeBlock{name: "sdc", removable: true, image: a},
		)
		var logs []string
		f, err := Locate(context.Background(), Options{Root: r, Wait: -1, Log: func(s string) { logs = append(logs, s) }})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(f.Data), "# a") || f.Origin != "volume /dev/sdc (vfat, label PHOENIX)" {
			t.Fatalf("chose %s", f.Origin)
		}
		if len(logs) != 1 || !strings.Contains(logs[0], "2 seed volumes found; using /dev/sdc") || !strings.Contains(logs[0], "ignoring /dev/sr0") {
			t.Fatalf("warning: %q", logs)
		}
	}
}

// TestPhoenixBeatsAIS prefers a PHOENIX volume over PROXMOX-AIS even when
// the AIS volume sorts first.
func TestPhoenixBeatsAIS(t *testing.T) {
	ais := mkFAT(t, 4, "PROXMOX-AIS", map[string]string{"phoenix/seed.yaml": "version: 1 # ais\n"})
	px := mkFAT(t, 4, "PHOENIX", map[string]string{"seed.yaml": "version: 1 # px\n"})
	f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{ais, px}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f.Data), "# px") {
		t.Fatalf("chose %s", f.Origin)
	}
}

// TestWaitForLateDevice: the stick appears 300 ms after Locate starts.
func TestWaitForLateDevice(t *testing.T) {
	stick := mkFAT(t, 4, "PHOENIX", seedFiles)
	r := newRoot(t)
	go func() {
		time.Sleep(300 * time.Millisecond)
		addBlock(t, r, fakeBlock{name: "sdb", removable: true, image: stick})
	}()
	start := time.Now()
	f, err := Locate(context.Background(), Options{Root: r, Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if f.Origin != "volume /dev/sdb (vfat, label PHOENIX)" {
		t.Fatalf("origin %q", f.Origin)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("took %s: did not notice the device", d)
	}

	// Nothing ever appears: the wait is bounded and says so.
	_, err = Locate(context.Background(), Options{Root: newRoot(t), Wait: 600 * time.Millisecond})
	if !errors.Is(err, ErrNoSeed) || !strings.Contains(err.Error(), "waited 600ms") {
		t.Fatalf("got %v", err)
	}
	// A cancelled context stops the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Locate(ctx, Options{Root: newRoot(t), Wait: time.Hour}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestCopyBundle(t *testing.T) {
	stick := mkFAT(t, 4, "PHOENIX", seedFiles)
	f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{stick}})
	if err != nil {
		t.Fatal(err)
	}
	state := newRoot(t)
	sums, err := f.CopyBundle(state, "/var/lib/phoenix/bundle", []string{"templates/t.tar.zst", "scripts/setup.sh"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := state.ReadFile("/var/lib/phoenix/bundle/scripts/setup.sh")
	if err != nil || string(got) != seedFiles["scripts/setup.sh"] {
		t.Fatalf("copied %q, %v", got, err)
	}
	if fi, _ := state.Stat("/var/lib/phoenix/bundle/scripts/setup.sh"); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	if s := sums["scripts/setup.sh"]; !strings.HasPrefix(s, "sha256:") || len(s) != 7+64 {
		t.Errorf("sum %q", s)
	}
	manifest, _ := state.ReadFile("/var/lib/phoenix/bundle/" + SumsFile)
	if !strings.Contains(string(manifest), strings.TrimPrefix(sums["scripts/setup.sh"], "sha256:")+"  scripts/setup.sh\n") {
		t.Errorf("manifest %q", manifest)
	}

	for _, bad := range []string{"../etc/shadow", "/etc/shadow", "scripts/../../x", `scripts\x`} {
		if _, err := f.CopyBundle(state, "/b", []string{bad}); !errors.Is(err, ErrEscape) {
			t.Errorf("%q: want ErrEscape, got %v", bad, err)
		}
	}
	if _, err := f.CopyBundle(state, "/b", []string{"missing.sh"}); err == nil || !strings.Contains(err.Error(), "missing.sh") {
		t.Errorf("missing file: %v", err)
	}
}

// TestDirBundleSymlinkOut refuses a symlink next to a local seed that
// points out of its directory, and follows one that stays inside.
func TestDirBundleSymlinkOut(t *testing.T) {
	r := newRoot(t)
	put(t, r, "/etc/phoenix/seed.yaml", tinySeed)
	put(t, r, "/etc/phoenix/in/real.sh", "ok")
	put(t, r, "/secret", "s")
	os.Symlink(r.Path("/secret"), r.Path("/etc/phoenix/out.sh"))
	os.Symlink("in/real.sh", r.Path("/etc/phoenix/inside.sh"))
	f, err := Locate(context.Background(), Options{Root: r})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Bundle.Open("out.sh"); !errors.Is(err, ErrEscape) {
		t.Fatalf("symlink out: %v", err)
	}
	rc, err := f.Bundle.Open("inside.sh")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "ok" {
		t.Fatalf("read %q", b)
	}
}

// TestISOSymlinkRefused: a Rock Ridge symlink on a volume is never followed.
func TestISOSymlinkRefused(t *testing.T) {
	needTool(t, "xorriso")
	src := t.TempDir()
	writeTree(t, src, map[string]string{"seed.yaml": tinySeed})
	os.Symlink("/etc/shadow", filepath.Join(src, "evil.sh"))
	img := filepath.Join(t.TempDir(), "s.iso")
	run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "PHOENIX", "-o", img, src)
	f, err := Locate(context.Background(), Options{Root: newRoot(t), Devices: []string{img}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Bundle.Open("evil.sh"); !errors.Is(err, ErrEscape) {
		t.Fatalf("want ErrEscape, got %v", err)
	}
}

func TestParseCmdline(t *testing.T) {
	for in, want := range map[string]cmdline{
		"":                                    {},
		"BOOT_IMAGE=/vmlinuz ro quiet":        {},
		"phoenix.seed=/a phoenix.seed=/b":     {seed: "/b"},
		`phoenix.seed="/with space/s.yaml" x`: {seed: "/with space/s.yaml"},
		"phoenix.disable":                     {disable: true},
		"phoenix.disable=1":                   {disable: true},
		"phoenix.disable=false":               {},
		"phoenix.seedx=/a phoenix.seed":       {},
		"phoenix.seed=label:MYSEED\n":         {seed: "label:MYSEED"},
	} {
		if got := parseCmdline(in); got != want {
			t.Errorf("%q: got %+v, want %+v", in, got, want)
		}
	}
}
