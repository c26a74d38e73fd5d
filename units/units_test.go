package units

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/dbus"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

func TestWantedBy(t *testing.T) {
	tests := []struct {
		name, unit string
		want       []string
	}{
		{"none", "[Unit]\nDescription=x\n", nil},
		{"one", "[Install]\nWantedBy=multi-user.target\n", []string{"multi-user.target"}},
		{"several and repeated", "[Install]\nWantedBy=a.target b.target\nWantedBy = a.target c.target\n", []string{"a.target", "b.target", "c.target"}},
		{"other sections ignored", "[Unit]\nWantedBy=wrong.target\n[Install]\n# WantedBy=comment.target\nRequiredBy=r.target\nWantedBy=right.target\n", []string{"right.target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WantedBy([]byte(tt.unit)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("WantedBy = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEmbedded checks the unit contract the engine and the docs rely on.
func TestEmbedded(t *testing.T) {
	var names []string
	for _, u := range All() {
		names = append(names, u.Name)
	}
	if want := []string{Local, ReseedPath, ReseedService, Boot}; !reflect.DeepEqual(names, want) {
		t.Fatalf("All() = %q, want %q", names, want)
	}
	must := map[string][]string{
		Boot: {"Type=notify", "Wants=network-online.target", "After=network-online.target",
			"Before=pve-guests.service", "TimeoutStartSec=infinity", "StandardOutput=journal+console",
			"ConditionPathExists=!" + DisabledFile, "ConditionKernelCommandLine=!phoenix.disable",
			"ExecStart=" + Binary + " run\n", "WantedBy=multi-user.target",
			"Wants=pve-cluster.service", "After=pve-cluster.service",
			"ConditionPathExists=!/run/phoenix/early-done"},
		// The early stage: never enabled (no [Install]), before the
		// services whose configuration it writes, not after the network.
		Local: {"Type=oneshot", "ExecStart=" + Binary + " run --early\n", "Before=phoenix.service smbd.service nfs-server.service",
			"Before=pve-guests.service", "ConditionPathExists=!" + DisabledFile, "ConditionKernelCommandLine=!phoenix.disable",
			"TimeoutStartSec=infinity"},
		ReseedPath: {"PathChanged=" + SeedFile, "Unit=" + ReseedService, "WantedBy=multi-user.target"},
		ReseedService: {"ExecStart=" + Binary + " run --reseed --lock-wait inf --seed " + SeedFile + " --changed\n", "After=network-online.target phoenix.service",
			"ConditionPathExists=!" + DisabledFile, "ConditionPathExists=" + SeedFile, "Wants=pve-cluster.service",
			"After=pve-cluster.service", "Before=pve-guests.service", "WantedBy=multi-user.target"},
	}
	for name, lines := range must {
		data, err := Read(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if !strings.Contains(string(data), l) {
				t.Errorf("%s lacks %q", name, l)
			}
		}
	}
	local, _ := Read(Local)
	var settings []string
	for _, l := range strings.Split(string(local), "\n") {
		if !strings.HasPrefix(l, "#") {
			settings = append(settings, l)
		}
	}
	for _, l := range []string{"[Install]", "network-online", "After=zfs.target"} {
		if strings.Contains(strings.Join(settings, "\n"), l) {
			t.Errorf("%s has %q", Local, l)
		}
	}
	if _, err := Read("nope.service"); err == nil {
		t.Error("Read(nope.service) succeeded")
	}
}

// links lists every symlink under root as "path -> target".
func links(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			out = append(out, strings.TrimPrefix(p, dir)+" -> "+target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestEnableDisableOffline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := host.NewDirRoot(dir)
	// live=true on a non-"/" root must still use symlinks: D-Bus would act
	// on this machine's systemd, not on the image.
	called := false
	connect = func(context.Context) (manager, error) { called = true; return nil, errors.New("unreachable") }
	t.Cleanup(func() { connect = defaultConnect })

	for i := 0; i < 2; i++ { // the second pass proves idempotence
		if err := Enable(ctx, root, true, Boot, ReseedPath); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"/etc/systemd/system/multi-user.target.wants/phoenix-reseed.path -> /etc/systemd/system/phoenix-reseed.path",
			"/etc/systemd/system/multi-user.target.wants/phoenix.service -> /etc/systemd/system/phoenix.service",
		}
		if got := links(t, dir); !reflect.DeepEqual(got, want) {
			t.Fatalf("pass %d: links = %q, want %q", i, got, want)
		}
	}
	if called {
		t.Error("Enable on an offline root called D-Bus")
	}
	if on, _ := IsEnabled(root, Boot); !on {
		t.Error("IsEnabled(Boot) = false after Enable")
	}
	// A link left by an older unit version under another target goes too.
	if err := root.Symlink(Path(Boot), "/etc/systemd/system/graphical.target.wants/"+Boot); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := Disable(ctx, root, false, Boot); err != nil {
			t.Fatal(err)
		}
		want := []string{"/etc/systemd/system/multi-user.target.wants/phoenix-reseed.path -> /etc/systemd/system/phoenix-reseed.path"}
		if got := links(t, dir); !reflect.DeepEqual(got, want) {
			t.Fatalf("pass %d: after Disable links = %q, want %q", i, got, want)
		}
	}
	if on, _ := IsEnabled(root, Boot); on {
		t.Error("IsEnabled(Boot) = true after Disable")
	}
	// An installed unit without [Install] (started only by another unit)
	// cannot be enabled.
	if err := root.MkdirAll(Dir, 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := root.WriteFile(Path("helper.service"), []byte("[Service]\nExecStart=/bin/true\n"), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := Enable(ctx, root, false, "helper.service"); err == nil || !strings.Contains(err.Error(), "no WantedBy=") {
		t.Errorf("Enable(helper.service) = %v, want a no-WantedBy error", err)
	}
	if err := Enable(ctx, root, false, "other.service"); err == nil {
		t.Error("Enable(other.service) of a unit that exists nowhere succeeded")
	}
}

// fakeManager records the D-Bus calls systemd would receive.
type fakeManager struct {
	calls []string
	fail  error
}

func (f *fakeManager) EnableUnitFilesContext(_ context.Context, files []string, runtime, force bool) (bool, []dbus.EnableUnitFileChange, error) {
	f.calls = append(f.calls, "enable "+strings.Join(files, " "))
	return false, nil, f.fail
}

func (f *fakeManager) DisableUnitFilesContext(_ context.Context, files []string, runtime bool) ([]dbus.DisableUnitFileChange, error) {
	f.calls = append(f.calls, "disable "+strings.Join(files, " "))
	return nil, f.fail
}

func (f *fakeManager) ReloadContext(context.Context) error {
	f.calls = append(f.calls, "reload")
	return nil
}

func (f *fakeManager) StopUnitContext(_ context.Context, name, mode string, ch chan<- string) (int, error) {
	f.calls = append(f.calls, "stop "+name+" "+mode)
	ch <- "done"
	return 1, f.fail
}

func (f *fakeManager) Close() { f.calls = append(f.calls, "close") }

// liveRoot is "/" as far as host.IsLive can tell, but its files live in a temp
// dir, so a fallback to symlinks is visible and harmless.
type liveRoot struct{ *host.DirRoot }

func (liveRoot) Path(string) string { return "/" }

func TestLiveDBus(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(func() { connect, booted = defaultConnect, host.SystemdBooted })
	booted = func() bool { return true }
	f := &fakeManager{}
	connect = func(context.Context) (manager, error) { return f, nil }
	root := liveRoot{host.NewDirRoot(t.TempDir())}

	if err := Enable(ctx, root, true, Boot, ReseedPath); err != nil {
		t.Fatal(err)
	}
	if err := Disable(ctx, root, true, Boot); err != nil {
		t.Fatal(err)
	}
	if err := Stop(ctx, root, true, ReseedPath); err != nil {
		t.Fatal(err)
	}
	if err := Reload(ctx, root, true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"enable phoenix.service phoenix-reseed.path", "reload", "close",
		"disable phoenix.service", "reload", "close",
		"stop phoenix-reseed.path replace", "close",
		"reload", "close",
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("D-Bus calls:\n%q\nwant\n%q", f.calls, want)
	}
	if got := links(t, root.Dir()); len(got) != 0 {
		t.Errorf("D-Bus path also made links: %q", got)
	}

	f.fail = errors.New("access denied")
	if err := Disable(ctx, root, true, Boot); err == nil || !strings.Contains(err.Error(), "units: disable phoenix.service: access denied") {
		t.Errorf("Disable with a failing systemd = %v", err)
	}
}

// TestLiveFallback: a live run makes and removes the wants links itself,
// as systemctl would, where systemd cannot be reached, and also where
// systemd is not booted as far as host.SystemdBooted can tell, as in a
// chroot whose /run is the build machine's (bind-mounted for apt): there
// no D-Bus call is made even where systemd answers.
func TestLiveFallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers bool // systemd answers over D-Bus
		booted  bool
	}{{"no systemd", false, true}, {"in a chroot", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			t.Cleanup(func() { connect, booted = defaultConnect, host.SystemdBooted })
			f := &fakeManager{}
			connect = func(context.Context) (manager, error) {
				if !tc.answers {
					return nil, errors.New("no such file: /run/systemd/private")
				}
				return f, nil
			}
			booted = func() bool { return tc.booted }
			dir := t.TempDir()
			root := liveRoot{host.NewDirRoot(dir)}
			if err := Enable(ctx, root, true, Boot); err != nil {
				t.Fatal(err)
			}
			want := []string{"/etc/systemd/system/multi-user.target.wants/phoenix.service -> /etc/systemd/system/phoenix.service"}
			if got := links(t, dir); !reflect.DeepEqual(got, want) {
				t.Fatalf("fallback links = %q, want %q", got, want)
			}
			if err := Disable(ctx, root, true, Boot); err != nil {
				t.Fatal(err)
			}
			if got := links(t, dir); len(got) != 0 {
				t.Fatalf("links after fallback Disable = %q", got)
			}
			for _, err := range []error{Reload(ctx, root, true), Stop(ctx, root, true, ReseedPath)} {
				if err != nil {
					t.Errorf("without systemd: %v, want nil", err)
				}
			}
			if len(f.calls) != 0 {
				t.Errorf("D-Bus calls: %q", f.calls)
			}
		})
	}
}

func TestSwitch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := Switch{Root: host.NewDirRoot(dir)}
	if err := s.EnableBoot(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/systemd/system/multi-user.target.wants/phoenix.service -> /etc/systemd/system/phoenix.service"}
	if got := links(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("after EnableBoot: %q, want %q", got, want)
	}
	if err := s.DisableBoot(ctx); err != nil {
		t.Fatal(err)
	}
	if got := links(t, dir); len(got) != 0 {
		t.Fatalf("after DisableBoot: %q", got)
	}
}

// TestEnablePackaged: with the Debian package, the units live in PackageDir
// and run PackageBinary; enabling offline must link to where the unit is,
// as `systemctl enable` does, and an admin's copy in Dir wins.
func TestEnablePackaged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := host.NewDirRoot(dir)
	for _, u := range All() {
		pu := u.WithBinary(PackageBinary)
		if strings.Contains(string(pu.Data), Binary) {
			t.Errorf("%s still names %s after WithBinary", u.Name, Binary)
		}
		if strings.Contains(string(u.Data), "ExecStart=") && !strings.Contains(string(pu.Data), "ExecStart="+PackageBinary+" run") {
			t.Errorf("%s: packaged ExecStart does not run %s:\n%s", u.Name, PackageBinary, pu.Data)
		}
		if err := root.MkdirAll(PackageDir, 0o755, host.Owner{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, PackageDir, u.Name), pu.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Enable(ctx, root, false, Boot); err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/systemd/system/multi-user.target.wants/phoenix.service -> /usr/lib/systemd/system/phoenix.service"}
	if got := links(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("links = %q, want %q", got, want)
	}
	if on, _ := IsEnabled(root, Boot); !on {
		t.Error("IsEnabled(Boot) = false after Enable of the packaged unit")
	}
	data, _ := Read(Boot)
	if err := root.MkdirAll(Dir, 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Path(Boot)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Enable(ctx, root, false, Boot); err != nil {
		t.Fatal(err)
	}
	want = []string{"/etc/systemd/system/multi-user.target.wants/phoenix.service -> /etc/systemd/system/phoenix.service"}
	if got := links(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("with an admin copy in %s: links = %q, want %q", Dir, got, want)
	}
	if err := Disable(ctx, root, false, Boot); err != nil {
		t.Fatal(err)
	}
	if got := links(t, dir); len(got) != 0 {
		t.Fatalf("after Disable: links = %q", got)
	}
}
