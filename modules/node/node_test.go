package node

import (
	"context"
	"os"
	"strings"
	"testing"

	bhost "github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

const debianHosts = `127.0.0.1	localhost
127.0.1.1	debian.lan	debian
192.168.1.10	pve1.lab.lan pve1 # old line from the installer, right address

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
`

func testSeed() *seed.Seed {
	return &seed.Seed{
		Version: 1,
		Host:    &seed.Host{Hostname: "pve1", Domain: "lab.lan", Timezone: "Europe/Berlin", NTP: []string{"ntp1.lab.lan", "192.168.1.2"}},
		Network: &seed.Network{Management: seed.Bridge{Name: "vmbr0", Address: "192.168.1.20/24", Gateway: "192.168.1.1"}},
	}
}

func world(t testing.TB) (*bhost.DirRoot, *fakehost.Runner, *modules.Env) {
	root := testkit.Root(t, map[string]string{
		"/etc/hostname":                     "debian\n",
		"/etc/hosts":                        debianHosts,
		"/usr/share/zoneinfo/Europe/Berlin": "TZif2 fake",
		"/usr/share/zoneinfo/UTC":           "TZif2 fake",
		"/usr/bin/chronyc":                  "",
	})
	run := fakehost.New()
	run.Script("chronyc", fakehost.OK("200 OK\n"))
	run.Script("hostname", fakehost.OK(""))
	env := testkit.Env(testSeed(), run, root)
	return root, run, env
}

func converge(t *testing.T, env *modules.Env) modules.Result {
	t.Helper()
	return testkit.Converge(t, New(), env)
}

func TestFirstRunRerunDrift(t *testing.T) {
	root, run, env := world(t)
	m := New()
	pending, err := modules.Check(context.Background(), m, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 5 {
		t.Errorf("check before: %q", pending)
	}
	if len(run.Calls()) != 0 {
		t.Errorf("Check ran commands: %s", run.Log())
	}
	res := converge(t, env)
	if len(res.Changed) != 5 {
		t.Errorf("changed %q", res.Changed)
	}
	testkit.Golden(t, "first.files", testkit.Dump(t, root, "/usr"))
	testkit.Golden(t, "first.calls", run.Log())

	// Rerun: nothing changes, nothing runs.
	run.Reset()
	res = converge(t, env)
	if len(res.Changed) != 0 || len(run.Calls()) != 0 {
		t.Errorf("rerun changed %q, ran %s", res.Changed, run.Log())
	}

	// Drift: the admin (or the installer) puts 127.0.1.1 back and edits the
	// block; the module converges again.
	hosts := testkit.Read(t, root, HostsFile)
	testkit.Write(t, root, HostsFile, "127.0.1.1 pve1.lab.lan pve1\n"+strings.Replace(hosts, "192.168.1.20", "10.0.0.9", 1))
	testkit.Write(t, root, TimezoneFile, "UTC\n")
	if err := root.Symlink("/usr/share/zoneinfo/UTC", LocaltimeFile); err != nil {
		t.Fatal(err)
	}
	pending, _ = modules.Check(context.Background(), m, env)
	if len(pending) != 3 {
		t.Errorf("drift: %q", pending)
	}
	converge(t, env)
	testkit.Golden(t, "drift.hosts", testkit.Read(t, root, HostsFile))
}

// TestLiveRenameOnlyWhenBooted: the running system is renamed
// (KernelHostname written, sethostname's file) only on a system booted
// with systemd, never on an image whose build machine's name that would
// be; and also before the system bus listens, as in the early stage,
// where the module can run before dbus.socket (make e2e, bookworm).
func TestLiveRenameOnlyWhenBooted(t *testing.T) {
	root, _, env := world(t)
	testkit.Write(t, root, KernelHostname, "debian\n")
	converge(t, env)
	if got := testkit.Read(t, root, KernelHostname); got != "debian\n" {
		t.Errorf("live rename without systemd booted: running name %q", got)
	}
	root, run, env := world(t)
	testkit.Write(t, root, "/run/systemd/system/.keep", "")
	testkit.Write(t, root, KernelHostname, "debian\n")
	converge(t, env)
	if got := testkit.Read(t, root, KernelHostname); got != "pve1" {
		t.Errorf("running host name %q, want pve1 written to %s", got, KernelHostname)
	}
	// In-process, as the kernel documents the file: no hostname(1), no
	// hostnamectl (whose daemon costs seconds mid-boot).
	if strings.Contains(run.Log(), "hostname") {
		t.Errorf("a command renamed the running system: %s", run.Log())
	}
	// A chroot (or --root) with the build machine's /proc and /run: PID
	// 1's root is elsewhere, and the kernel's name is the build
	// machine's, left alone.
	root, _, env = world(t)
	testkit.Write(t, root, "/run/systemd/system/.keep", "")
	testkit.Write(t, root, KernelHostname, "builder\n")
	if err := os.MkdirAll(root.Path("/proc/1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), root.Path("/proc/1")+"/root"); err != nil {
		t.Fatal(err)
	}
	converge(t, env)
	if got := testkit.Read(t, root, KernelHostname); got != "builder\n" {
		t.Errorf("in a chroot, the build machine renamed: running name %q", got)
	}
	if got := testkit.Read(t, root, "/etc/hostname"); got != "pve1\n" {
		t.Errorf("in a chroot, /etc/hostname %q, want pve1", got)
	}
}

func TestBadHostState(t *testing.T) {
	t.Run("unknown timezone", func(t *testing.T) {
		_, _, env := world(t)
		env.Seed.Host.Timezone = "Mars/Olympus"
		_, err := modules.Apply(context.Background(), New(), env)
		if err == nil || !strings.Contains(err.Error(), `timezone "Mars/Olympus": no zone file`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("timezone escaping zoneinfo", func(t *testing.T) {
		_, _, env := world(t)
		env.Seed.Host.Timezone = "../../etc/passwd"
		if _, err := modules.Check(context.Background(), New(), env); err == nil {
			t.Error("accepted")
		}
	})
	t.Run("bad hostname", func(t *testing.T) {
		_, _, env := world(t)
		env.Seed.Host.Hostname = "pve_1"
		if _, err := modules.Check(context.Background(), New(), env); err == nil {
			t.Error("accepted")
		}
	})
	t.Run("node with guests is not renamed", func(t *testing.T) {
		root, _, env := world(t)
		testkit.Write(t, root, "/etc/pve/nodes/debian/lxc/101.conf", "arch: amd64\n")
		_, err := modules.Apply(context.Background(), New(), env)
		if err == nil || !strings.Contains(err.Error(), `refusing to rename node "debian"`) {
			t.Errorf("err = %v", err)
		}
		if testkit.Read(t, root, HostnameFile) != "debian\n" {
			t.Error("renamed anyway")
		}
	})
	t.Run("chronyd not running", func(t *testing.T) {
		_, run, env := world(t)
		run.Script("chronyc", fakehost.Fail(1, "506 Cannot talk to daemon"))
		res := converge(t, env)
		if len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "chrony not running") {
			t.Errorf("notes %q", res.Notes)
		}
	})
	t.Run("chrony missing", func(t *testing.T) {
		root, run, env := world(t)
		if err := root.Remove(ChronycBin); err != nil {
			t.Fatal(err)
		}
		res := converge(t, env)
		if strings.Contains(run.Log(), "chronyc") || len(res.Notes) == 0 {
			t.Errorf("notes %q, calls %s", res.Notes, run.Log())
		}
	})
	t.Run("no management address", func(t *testing.T) {
		root, _, env := world(t)
		env.Seed.Network = nil
		res := converge(t, env)
		if testkit.Read(t, root, HostsFile) != debianHosts || len(res.Notes) == 0 {
			t.Errorf("hosts touched or no note: %q", res.Notes)
		}
	})
}

func TestNTPRemovedWhenSeedDropsIt(t *testing.T) {
	root, _, env := world(t)
	converge(t, env)
	env.Seed.Host.NTP = nil
	converge(t, env)
	if bhost.Exists(root, ChronySources) {
		t.Error("phoenix.sources left behind")
	}
}
