package repos

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/modules/internal/apt/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/seed"
)

// What the PVE 8 installer leaves, plus a no-subscription line an admin
// added by hand (a duplicate of Phoenix's).
var pve8 = map[string]string{
	OSRelease:                             "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
	SourcesList:                           "deb http://ftp.debian.org/debian bookworm main contrib\ndeb http://ftp.debian.org/debian bookworm-updates main contrib\n\n# security updates\ndeb http://security.debian.org bookworm-security main contrib\n",
	SourcesDir + "/pve-enterprise.list":   "deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise\n",
	SourcesDir + "/ceph.list":             "deb https://enterprise.proxmox.com/debian/ceph-quincy bookworm enterprise\n",
	SourcesDir + "/pve-install-repo.list": "deb [arch=amd64] http://download.proxmox.com/debian/pve bookworm pve-no-subscription\n",
}

// What the PVE 9 installer leaves (deb822).
var pve9 = map[string]string{
	OSRelease:                              "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\nID=debian\n",
	SourcesDir + "/debian.sources":         "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: trixie trixie-updates\nComponents: main contrib non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://security.debian.org/debian-security/\nSuites: trixie-security\nComponents: main contrib non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
	SourcesDir + "/pve-enterprise.sources": "Types: deb\nURIs: https://enterprise.proxmox.com/debian/pve\nSuites: trixie\nComponents: pve-enterprise\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n",
	SourcesDir + "/ceph.sources":           "Types: deb\nURIs: https://enterprise.proxmox.com/debian/ceph-squid\nSuites: trixie\nComponents: enterprise\nEnabled: yes\nSigned-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n",
}

func ptr[T any](v T) *T { return &v }

func world(t testing.TB, fs map[string]string, r *seed.Repos) (*host.DirRoot, *fakehost.Runner, *fake.DB, *modules.Env, *Module) {
	root := testkit.Root(t, fs)
	run := fakehost.New()
	db := fake.New("jq", "chrony")
	db.Register(run)
	m := quickModule()
	env := testkit.Env(&seed.Seed{Version: 1, Repos: r}, run, root)
	return root, run, db, env, m
}

// quickModule is the module with an apt client that does not really sleep
// between retries.
func quickModule() *Module {
	m := New()
	m.APT = func(r host.Runner) *apt.Client {
		c := apt.New(r)
		c.Sleep = func(context.Context, time.Duration) error { return nil }
		return c
	}
	return m
}

func TestPVE8FirstRunRerunDrift(t *testing.T) {
	root, run, db, env, m := world(t, pve8, &seed.Repos{Ceph: "reef", DistUpgrade: true, Packages: []string{"jq", "s-tui", "chrony"}, ForceIPv4: true})
	pending, err := modules.Check(context.Background(), m, env)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "pve8.check", strings.Join(pending, "\n")+"\n")
	for _, c := range run.Calls() {
		if c.Name != "dpkg-query" {
			t.Errorf("Check ran %s", c)
		}
	}
	run.Reset()
	testkit.Converge(t, m, env)
	testkit.Golden(t, "pve8.files", testkit.Dump(t, root, "/var", OSRelease))
	testkit.Golden(t, "pve8.calls", run.Log())
	if db.Updates != 1 || db.Upgrades != 1 || strings.Join(db.Installed(), " ") != "chrony jq s-tui" {
		t.Errorf("updates %d upgrades %d installed %v", db.Updates, db.Upgrades, db.Installed())
	}

	// Rerun: only the read-only package query.
	run.Reset()
	res := testkit.Converge(t, m, env)
	if len(res.Changed) != 0 || strings.Contains(run.Log(), "apt-get") {
		t.Errorf("rerun changed %q ran %s", res.Changed, run.Log())
	}

	// Drift: the enterprise repo re-enabled by hand, a package removed.
	testkit.Write(t, root, SourcesDir+"/pve-enterprise.list", pve8[SourcesDir+"/pve-enterprise.list"])
	db.Status["s-tui"] = "rc "
	run.Reset()
	testkit.Converge(t, m, env)
	testkit.Golden(t, "pve8.files", testkit.Dump(t, root, "/var", OSRelease))
	if db.Upgrades != 1 {
		t.Errorf("dist-upgrade repeated for the same seed: %d", db.Upgrades)
	}
}

func TestPVE9Deb822(t *testing.T) {
	root, run, _, env, m := world(t, pve9, &seed.Repos{Ceph: "squid"})
	// A .list Phoenix wrote before an upgrade from PVE 8 must go.
	testkit.Write(t, root, OwnList, "deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription\n")
	testkit.Converge(t, m, env)
	testkit.Golden(t, "pve9.files", testkit.Dump(t, root, "/var", OSRelease))
	testkit.Golden(t, "pve9.calls", run.Log())
	if host.Exists(root, OwnList) {
		t.Error("duplicate .list left next to the .sources")
	}

	// Enterprise after all: Phoenix's disabling is undone, stanzas back as
	// the installer wrote them.
	env.Seed.Repos = &seed.Repos{Enterprise: true, NoSubscription: ptr(false)}
	testkit.Converge(t, m, env)
	for _, f := range []string{"/pve-enterprise.sources", "/ceph.sources"} {
		if got := testkit.Read(t, root, SourcesDir+f); got != pve9[SourcesDir+f] {
			t.Errorf("%s not restored:\n%s", f, got)
		}
	}
	if host.Exists(root, OwnSources) {
		t.Error("own file left with nothing to provide")
	}
}

func TestBadHostState(t *testing.T) {
	t.Run("dpkg lock held", func(t *testing.T) {
		root, _, db, env, m := world(t, pve8, &seed.Repos{Packages: []string{"s-tui"}})
		db.Locked = true
		_, err := modules.Apply(context.Background(), m, env)
		if !errors.Is(err, apt.ErrLocked) || !strings.Contains(err.Error(), "apt: update: dpkg lock is held by another process (waited 5m0s)") {
			t.Fatalf("err = %v", err)
		}
		// The lock goes away; the next run still updates (the files were
		// already written) and installs.
		db.Locked = false
		testkit.Converge(t, m, env)
		if db.Updates != 1 || !host.Exists(root, OwnList) {
			t.Errorf("updates %d", db.Updates)
		}
	})
	t.Run("failing apt update", func(t *testing.T) {
		_, _, db, env, m := world(t, pve8, &seed.Repos{})
		db.FailUpdate = "E: Failed to fetch http://download.proxmox.com/debian/pve/dists/bookworm/InRelease  Temporary failure resolving 'download.proxmox.com'\n"
		_, err := modules.Apply(context.Background(), m, env)
		if err == nil || !strings.Contains(err.Error(), "after 4 attempts") || !strings.Contains(err.Error(), "Temporary failure resolving") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unknown package", func(t *testing.T) {
		_, _, db, env, m := world(t, pve8, &seed.Repos{Packages: []string{"no-such-pkg"}})
		db.Available = map[string]bool{}
		_, err := modules.Apply(context.Background(), m, env)
		if err == nil || !strings.Contains(err.Error(), "Unable to locate package no-such-pkg") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unsupported release", func(t *testing.T) {
		fs := map[string]string{OSRelease: "VERSION_CODENAME=bullseye\nID=debian\n"}
		_, _, _, env, m := world(t, fs, &seed.Repos{})
		if _, err := modules.Check(context.Background(), m, env); err == nil || !strings.Contains(err.Error(), `"bullseye" is not supported`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("ceph release not on PVE 9", func(t *testing.T) {
		_, _, _, env, m := world(t, pve9, &seed.Repos{Ceph: "reef"})
		if _, err := modules.Check(context.Background(), m, env); err == nil || !strings.Contains(err.Error(), `ceph "reef" is not available on PVE 9`) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestProxyDropIn(t *testing.T) {
	root, run, _, env, m := world(t, pve8, &seed.Repos{Proxy: "http://bob:s3cret@proxy.lan:3128"})
	testkit.Converge(t, m, env)
	fi, err := root.Stat(AptConf)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", AptConf, fi, err)
	}
	if !strings.Contains(testkit.Read(t, root, AptConf), `Acquire::https::Proxy "http://bob:s3cret@proxy.lan:3128";`) {
		t.Error("proxy not configured")
	}
	if strings.Contains(run.Log(), "s3cret") {
		t.Errorf("proxy credentials in argv: %s", run.Log())
	}
	env.Seed.Repos.Proxy = ""
	testkit.Converge(t, m, env)
	if host.Exists(root, AptConf) {
		t.Error("drop-in left after the proxy was removed")
	}
	env.Seed.Repos.Proxy = "http://x\";Dir \"/tmp"
	if _, err := modules.Check(context.Background(), m, env); err == nil {
		t.Error("injection accepted")
	}
}

func TestStanzasRoundTrip(t *testing.T) {
	for _, c := range []string{pve9[SourcesDir+"/debian.sources"], "A: b\n\n\nC: d\n", "", "# c\nA: b\n"} {
		if got := strings.Join(stanzas(c), ""); got != c {
			t.Errorf("%q -> %q", c, got)
		}
	}
}
