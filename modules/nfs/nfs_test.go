package nfs_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	aptfake "github.com/phoenix-pve/phoenix/modules/internal/apt/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/nfs"
	nfsfake "github.com/phoenix-pve/phoenix/modules/nfs/fake"
	"github.com/phoenix-pve/phoenix/seed"
)

const adminExports = "# /etc/exports: the admin's own\n/srv/legacy 10.1.0.0/16(ro,sync,no_subtree_check)\n"

const nfsSeed = `
nfs:
  exports:
    - path: /tank/media
      clients:
        - {host: 192.168.1.0/24, options: [rw, sync, no_subtree_check]}
        - {host: "*.lan", options: [ro]}
    - path: /srv/media/films
      clients:
        - {host: "@trusted", options: [rw, all_squash, anonuid=1500, anongid=1500]}
`

type world struct {
	root *host.DirRoot
	srv  *nfsfake.Server
	apt  *aptfake.DB
	run  *fakehost.Runner
}

func newWorld(t testing.TB) *world {
	root := host.NewDirRoot(t.TempDir())
	for _, d := range []string{"/tank/media", "/srv/media/films", "/srv/legacy"} {
		if err := root.MkdirAll(d, 0o755, host.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.WriteFile("/etc/exports", []byte(adminExports), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	w := &world{root: root, srv: nfsfake.New(root), apt: aptfake.New("nfs-common"), run: fakehost.New()}
	w.srv.Register(w.run)
	w.apt.Register(w.run)
	return w
}

func (w *world) effects() string {
	return w.srv.Effects() + "packages: " + strings.Join(w.apt.Installed(), " ") + "\n"
}

func (w *world) env(s *seed.Seed) *modules.Env {
	return testkit.Env(s, w.run, w.root)
}

// TestApplyThenRerun: install, write the drop-in, enable, reload, verify;
// the rerun only reads.
func TestApplyThenRerun(t *testing.T) {
	w := newWorld(t)
	s := testkit.Seed(t, nfsSeed)
	ctx := context.Background()
	m := nfs.New()
	res, err := modules.Apply(ctx, m, w.env(s))
	if err != nil {
		t.Fatal(err)
	}
	testkit.GoldenFile(t, "apply.log", w.run.Log())
	b, _ := w.root.ReadFile(nfs.ExportsFile)
	testkit.GoldenFile(t, "phoenix.exports", string(b))
	testkit.GoldenFile(t, "exportfs-v.txt", w.srv.Effects())
	if len(res.Changed) != 4 {
		t.Errorf("changed %q", res.Changed)
	}
	w.run.Reset()
	res, err = modules.Apply(ctx, m, w.env(s))
	if err != nil || len(res.Changed) > 0 {
		t.Errorf("rerun: %q %v", res.Changed, err)
	}
	for _, c := range w.run.Calls() {
		if c.Name == "apt-get" || c.Name == "exportfs" && c.Args[0] != "-v" || c.Name == "systemctl" && c.Args[0] == "enable" {
			t.Errorf("rerun ran %s", c.String())
		}
	}
	if ch, err := modules.Check(ctx, m, w.env(s)); err != nil || len(ch) > 0 {
		t.Errorf("Check: %q %v", ch, err)
	}
}

// TestAdminExportsUntouched is bash failure 2 (/etc/exports truncated):
// the admin's file is byte-identical afterwards, and both its exports and
// Phoenix's are live.
func TestAdminExportsUntouched(t *testing.T) {
	w := newWorld(t)
	if _, err := modules.Apply(context.Background(), nfs.New(), w.env(testkit.Seed(t, nfsSeed))); err != nil {
		t.Fatal(err)
	}
	b, err := w.root.ReadFile("/etc/exports")
	if err != nil || string(b) != adminExports {
		t.Fatalf("/etc/exports changed: %q %v", b, err)
	}
	live := w.srv.Effects()
	for _, p := range []string{"/srv/legacy", "/tank/media", "/srv/media/films"} {
		if !strings.Contains(live, p) {
			t.Errorf("%s not exported:\n%s", p, live)
		}
	}
}

// TestNeverTruncated: a crash at any point leaves the drop-in either absent,
// the old one, or complete (fault harness), never a partial or empty file.
func TestFaults(t *testing.T) {
	fault.Check(t, fault.Scenario{
		Seed:    testkit.Seed(t, nfsSeed),
		Modules: []modules.Module{nfs.New()},
		NewWorld: func(t testing.TB) *fault.World {
			w := newWorld(t)
			return &fault.World{Root: w.root, Runner: w.run, Effects: w.effects, Boot: w.srv.Boot}
		},
	})
}

func TestRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ seed, want string }{
		"missing path": {"nfs:\n  exports:\n    - {path: /nope, clients: [{host: nas}]}\n", "export /nope: no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			_, err := modules.Apply(context.Background(), nfs.New(), w.env(testkit.Seed(t, tc.seed)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
			if _, err := w.root.ReadFile(nfs.ExportsFile); err == nil {
				t.Error("drop-in written despite the error")
			}
		})
	}
	// Seeds the validator refuses are refused by the module too.
	bad := &seed.NFS{Exports: []seed.Export{{Path: "/tank/media", Clients: []seed.ExportClient{{Host: "10.0.0.0/33"}}}}}
	if _, err := nfs.Build(bad); err == nil || !strings.Contains(err.Error(), `nfs.exports[0].clients[0].host: "10.0.0.0/33" is not an NFS client`) {
		t.Errorf("bad CIDR: %v", err)
	}
	bad.Exports[0].Clients[0] = seed.ExportClient{Host: "nas", Options: []string{"rw", "ro"}}
	if _, err := nfs.Build(bad); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Errorf("rw+ro: %v", err)
	}
}

// TestNoteOffDataset: with a zfs section, an export on no seed dataset is
// pointed out (the bash scripts exported /mnt/pve/... paths nothing was
// mounted on).
func TestNoteOffDataset(t *testing.T) {
	w := newWorld(t)
	// The pool must be mounted (M4): a tmpfs stands in for it.
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", w.root.Path("/tank")).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the pool here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", w.root.Path("/tank")).Run() })
	if err := w.root.MkdirAll("/tank/media", 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	s := testkit.Seed(t, "zfs:\n  pools: [{name: tank, external: true}]\nnfs:\n  exports:\n    - {path: /tank/media, clients: [{host: nas}]}\n    - {path: /srv/legacy, clients: [{host: nas}]}\n")
	res, err := modules.Apply(context.Background(), nfs.New(), w.env(s))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "export /srv/legacy is on no seed dataset") {
		t.Errorf("notes: %q", res.Notes)
	}
}

// TestM4LooserAdminExportAndUnmountedDataset replays the review: the
// admin's /etc/exports already exports /tank/media to the seed's client
// with rw,no_root_squash (nfs-utils serves that first entry, not the
// seed's ro one), and a dataset that is not mounted leaves a plain root
// filesystem directory at its mountpoint. Both are refused.
func TestM4LooserAdminExportAndUnmountedDataset(t *testing.T) {
	ctx := context.Background()
	t.Run("looser admin export", func(t *testing.T) {
		w := newWorld(t)
		admin := adminExports + "/tank/media 192.168.1.0/24(rw,no_root_squash,sync,no_subtree_check)\n"
		if err := w.root.WriteFile("/etc/exports", []byte(admin), 0o644, host.Owner{}); err != nil {
			t.Fatal(err)
		}
		s := testkit.Seed(t, "nfs:\n  exports:\n    - {path: /tank/media, clients: [{host: 192.168.1.0/24, options: [ro, root_squash]}]}\n")
		_, err := modules.Apply(ctx, nfs.New(), w.env(s))
		if err == nil || !strings.Contains(err.Error(), "serves the first entry") {
			t.Fatalf("want the shadowing admin export refused, got %v", err)
		}
		if _, err := modules.Check(ctx, nfs.New(), w.env(s)); err == nil {
			t.Fatal("Check reports converged")
		}
	})
	t.Run("unmounted dataset", func(t *testing.T) {
		w := newWorld(t)
		s := testkit.Seed(t, "zfs:\n  pools: [{name: tank, external: true}]\nnfs:\n  exports:\n    - {path: /tank/media, clients: [{host: nas}]}\n")
		_, err := modules.Apply(ctx, nfs.New(), w.env(s))
		if err == nil || !strings.Contains(err.Error(), "is not mounted") {
			t.Fatalf("want the unmounted dataset refused, got %v", err)
		}
		if b, _ := w.root.ReadFile(nfs.ExportsFile); strings.Contains(string(b), "/tank/media") {
			t.Fatalf("exported anyway:\n%s", b)
		}
	})
}

// TestEarlyStage: with the server installed the module runs before the
// network (modules.Early). nfs-server has not started then (the early unit
// is ordered before it): the module writes the file and queues the start
// (--no-block), whose ExecStartPre `exportfs -r` exports it; no exportfs
// of its own. Without the package it waits for the network stage.
func TestEarlyStage(t *testing.T) {
	ctx := context.Background()
	s := testkit.Seed(t, nfsSeed)
	m := nfs.New()
	w := newWorld(t)
	if ok, why := m.Early(ctx, w.env(s)); ok || !strings.Contains(why, "not installed") {
		t.Errorf("Early without the server = %v %q, want false, not installed", ok, why)
	}
	w = newWorld(t)
	w.apt = aptfake.New("nfs-common", nfs.Package)
	w.apt.Register(w.run)
	w.srv.Enabled[nfs.Service] = true // as the package leaves it; not started yet
	// The early stage reads dpkg's status file, not dpkg-query.
	if err := w.apt.WriteStatus(w.root); err != nil {
		t.Fatal(err)
	}
	if err := w.root.WriteFile(nfs.ExportfsBin, nil, 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	env := w.env(s)
	if ok, _ := m.Early(ctx, env); !ok {
		t.Fatal("Early with the server installed = false")
	}
	env.EarlyStage = true
	if _, err := modules.Apply(ctx, m, env); err != nil {
		t.Fatal(err)
	}
	log := w.run.Log()
	if strings.Contains(log, "dpkg-query") || strings.Contains(log, "apt-get") {
		t.Errorf("early stage: want no package tool, the status file read in-process:\n%s", log)
	}
	if !strings.Contains(log, "systemctl start --no-block nfs-server.service\n") || strings.Contains(log, "exportfs") || strings.Contains(log, "--now") {
		t.Errorf("early stage: want only a queued start, no exportfs, no blocking start:\n%s", log)
	}
	if !strings.Contains(w.srv.Effects(), "/tank/media") {
		t.Errorf("nfs-server's start did not export the file:\n%s", w.srv.Effects())
	}
	// At boot the start job is queued already (held back by the early
	// unit's Before=): one systemctl show, and the job's start exports.
	w2 := newWorld(t)
	w2.apt = aptfake.New("nfs-common", nfs.Package)
	w2.apt.Register(w2.run)
	if err := w2.apt.WriteStatus(w2.root); err != nil {
		t.Fatal(err)
	}
	w2.srv.Enabled[nfs.Service], w2.srv.Queued[nfs.Service] = true, true
	env2 := w2.env(s)
	env2.EarlyStage = true
	res2, err := modules.Apply(ctx, m, env2)
	if err != nil {
		t.Fatal(err)
	}
	// The job was there already: nothing queued, so nothing recorded as
	// changed for the service (a 2026-12-03 VM boot's status.json said
	// "queue the start" though no command ran).
	for _, c := range res2.Changed {
		if strings.Contains(c, "nfs-server.service") {
			t.Errorf("with the start job queued, recorded as changed: %q", c)
		}
	}
	sys := testkit.Commands(w2.run.Log(), "systemctl ", "exportfs ")
	if len(sys) != 1 || sys[0] != "systemctl show -p ActiveState -p UnitFileState -p Job nfs-server.service" {
		t.Errorf("with the boot's start queued: service commands %q, want only systemctl show", sys)
	}
	if strings.Contains(w2.srv.Effects(), "/tank/media") {
		t.Error("exported before the early stage ended")
	}
	w2.srv.RunQueued()
	if !strings.Contains(w2.srv.Effects(), "/tank/media") {
		t.Errorf("the queued start did not export the file:\n%s", w2.srv.Effects())
	}
	if ch, err := modules.Check(ctx, m, w.env(s)); err != nil || len(ch) != 0 {
		t.Errorf("Check after the early stage: %q %v", ch, err)
	}
}

// TestEarlyStageHalfInstalled: the binary is there but dpkg's status file
// says the package is half-configured (an interrupted upgrade): the early
// stage fails without writing or starting anything, and leaves the module
// to phoenix.service, which repairs the package with apt-get.
func TestEarlyStageHalfInstalled(t *testing.T) {
	ctx := context.Background()
	s := testkit.Seed(t, nfsSeed)
	w := newWorld(t)
	w.apt.Status[nfs.Package] = "iF "
	if err := w.apt.WriteStatus(w.root); err != nil {
		t.Fatal(err)
	}
	if err := w.root.WriteFile(nfs.ExportfsBin, nil, 0o755, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	env := w.env(s)
	env.EarlyStage = true
	_, err := modules.Apply(ctx, nfs.New(), env)
	if err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("half-configured package in the early stage: err = %v, want not installed", err)
	}
	if got := w.run.Log(); got != "" {
		t.Errorf("commands run anyway:\n%s", got)
	}
	if b, _ := w.root.ReadFile(nfs.ExportsFile); strings.Contains(string(b), "/tank/media") {
		t.Error("exports written anyway")
	}
}

// TestAlongside: nfs runs beside host and users in the early stage
// (modules.Concurrent), and waits for users when an export lies below
// /home, where useradd creates directories.
func TestAlongside(t *testing.T) {
	w := newWorld(t)
	for seedText, want := range map[string][]string{
		"nfs:\n  exports:\n    - {path: /tank/media, clients: [{host: nas}]}\n":     {"host", "users"},
		"nfs:\n  exports:\n    - {path: /home/alice/pub, clients: [{host: nas}]}\n": {"host"},
	} {
		if got := nfs.New().Alongside(context.Background(), w.env(testkit.Seed(t, seedText))); !slices.Equal(got, want) {
			t.Errorf("%s: Alongside = %q, want %q", seedText, got, want)
		}
	}
}
