package bootstrap_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
	"github.com/phoenix-pve/phoenix/units"
)

// tmod is a test module named after a seed section. Each Apply writes
// /etc/<name>.conf from the section digest (only when it differs) and
// counts real writes, so a test can tell "ran" from "did something".
type tmod struct {
	name    string
	applies int
	writes  int
	// step, when set, replaces the default Apply body after the counting.
	step func(ctx context.Context, e *modules.Env, n int) (modules.Result, error)
}

func (m *tmod) Name() string             { return m.name }
func (m *tmod) Active(s *seed.Seed) bool { return seed.SectionDigest(s, m.name) != "" }
func (m *tmod) Check(_ context.Context, e *modules.Env) ([]string, error) {
	if b, _ := e.Root.ReadFile("/etc/" + m.name + ".conf"); string(b) != seed.SectionDigest(e.Seed, m.name) {
		return []string{"write /etc/" + m.name + ".conf"}, nil
	}
	return nil, nil
}

func (m *tmod) Apply(ctx context.Context, e *modules.Env) (modules.Result, error) {
	m.applies++
	if m.step != nil {
		return m.step(ctx, e, m.applies)
	}
	return m.converge(e)
}

func (m *tmod) converge(e *modules.Env) (modules.Result, error) {
	ch, err := host.WriteIfChanged(e.Root, "/etc/"+m.name+".conf", []byte(seed.SectionDigest(e.Seed, m.name)), 0o644, host.Owner{})
	if err != nil {
		return modules.Result{}, err
	}
	if !ch {
		return modules.Result{}, nil
	}
	m.writes++
	return modules.Result{Changed: []string{"/etc/" + m.name + ".conf"}}, nil
}

// rebootOnce converges, then asks for one reboot and finishes in a later
// boot (phase kept in the Store, as real modules do).
func rebootOnce(m *tmod) func(context.Context, *modules.Env, int) (modules.Result, error) {
	return func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
		var boot string
		if _, err := e.Store.Get(m.name+"/boot", &boot); err != nil {
			return modules.Result{}, err
		}
		if boot == "" {
			res, err := m.converge(e)
			if err != nil {
				return res, err
			}
			return modules.Result{Reboot: true, Reason: "new kernel"}, e.Store.Put(m.name+"/boot", e.BootID)
		}
		if boot == e.BootID {
			return modules.Result{Reboot: true, Reason: "new kernel (again)"}, nil
		}
		return modules.Result{Changed: []string{"kernel"}}, e.Store.Delete(m.name + "/boot")
	}
}

type harness struct {
	t       *testing.T
	root    *host.DirRoot
	run     *fakehost.Runner
	seed    *seed.Seed
	mods    []modules.Module
	boot    int
	reboots int
	stderr  bytes.Buffer
	opts    func(*bootstrap.Options)
}

func newHarness(t *testing.T, mods ...modules.Module) *harness {
	root := host.NewDirRoot(t.TempDir())
	root.SetSync(false)
	return &harness{t: t, root: root, run: fakehost.New(), seed: fullSeed(), mods: mods, boot: 1}
}

func fullSeed() *seed.Seed {
	return &seed.Seed{Version: 1,
		Host:   &seed.Host{Hostname: "pve1"},
		Kernel: &seed.Kernel{},
		ZFS:    &seed.ZFS{},
		LXC:    &seed.LXC{},
	}
}

func (h *harness) options() bootstrap.Options {
	o := bootstrap.Options{
		Root: h.root, Runner: h.run, Modules: h.mods, Seed: h.seed,
		SeedName: "seed.yaml", SeedData: []byte("version: 1\n"),
		Version: "test", BootID: "boot-" + string(rune('0'+h.boot)),
		Reboot:   func(context.Context) error { h.reboots++; return nil },
		LockWait: time.Second, Stderr: &h.stderr,
	}
	if h.opts != nil {
		h.opts(&o)
	}
	return o
}

// runOnce runs the engine; on a reboot it moves to the next boot.
func (h *harness) runOnce() (bootstrap.Outcome, error) {
	h.t.Helper()
	out, err := bootstrap.Run(context.Background(), h.options())
	if out.State == bootstrap.Rebooting {
		h.boot++
	}
	return out, err
}

func (h *harness) status() bootstrap.Status {
	h.t.Helper()
	st, found, err := bootstrap.ReadStatus(h.root)
	if err != nil || !found {
		h.t.Fatalf("status: found=%v err=%v", found, err)
	}
	return st
}

func (h *harness) markers() []string {
	ms, err := bootstrap.ReadMarkers(h.root)
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for n := range ms {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestResumeAfterReboot(t *testing.T) {
	hostM, kernel, zfs := &tmod{name: "host"}, &tmod{name: "kernel"}, &tmod{name: "zfs"}
	kernel.step = rebootOnce(kernel)
	h := newHarness(t, hostM, kernel, zfs)

	out, err := h.runOnce()
	if err != nil || out.State != bootstrap.Rebooting || out.Module != "kernel" {
		t.Fatalf("run 1 = %+v, %v; want rebooting for kernel", out, err)
	}
	if h.reboots != 1 || zfs.applies != 0 {
		t.Fatalf("reboots=%d zfs applies=%d; want 1 reboot and zfs not started", h.reboots, zfs.applies)
	}
	if got := h.markers(); !slices.Equal(got, []string{"host"}) {
		t.Fatalf("markers after run 1 = %v, want [host]", got)
	}
	if st := h.status(); st.State != bootstrap.Rebooting || st.Module("kernel").Reboots != 1 {
		t.Errorf("status after run 1: %s, kernel reboots %d", st.State, st.Module("kernel").Reboots)
	}

	out, err = h.runOnce()
	if err != nil || out.State != bootstrap.Done || !out.Complete {
		t.Fatalf("run 2 = %+v, %v; want complete", out, err)
	}
	if !slices.Equal(out.Ran, []string{"kernel", "zfs"}) {
		t.Errorf("run 2 ran %v, want [kernel zfs] (resume at kernel, host not again)", out.Ran)
	}
	if hostM.applies != 1 || kernel.applies != 2 || zfs.applies != 1 || h.reboots != 1 {
		t.Errorf("applies host=%d kernel=%d zfs=%d reboots=%d; want 1 2 1 1", hostM.applies, kernel.applies, zfs.applies, h.reboots)
	}
	st := h.status()
	if st.State != bootstrap.Done || st.Module("kernel").Reboots != 1 {
		t.Errorf("final status %s, kernel reboots %d; want done, 1", st.State, st.Module("kernel").Reboots)
	}
	if host.Exists(h.root, bootstrap.CursorFile) || !host.Exists(h.root, bootstrap.CompletionFile) {
		t.Error("want the cursor gone and the completion record written")
	}
}

// crashRoot panics (a simulated crash: the engine lets it through) right
// after the write of path crashAt.
type crashRoot struct {
	*host.DirRoot
	crashAt string
	before  bool // crash just before that write instead
	crashed bool
}

type crashed struct{}

func (crashed) Crash() {}

func (r *crashRoot) WriteFile(p string, data []byte, mode fs.FileMode, o host.Owner) error {
	if r.before && p == r.crashAt && !r.crashed {
		r.crashed = true
		panic(crashed{})
	}
	err := r.DirRoot.WriteFile(p, data, mode, o)
	if err == nil && p == r.crashAt && !r.crashed {
		r.crashed = true
		panic(crashed{})
	}
	return err
}

// WriteFileVolatile crashes like WriteFile (the embedded DirRoot's would
// pass the write through unseen).
func (r *crashRoot) WriteFileVolatile(p string, data []byte, mode fs.FileMode, o host.Owner) error {
	return r.WriteFile(p, data, mode, o)
}

func runCrashing(h *harness, r host.Root) (crashedNow bool) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(crashed); !ok {
				panic(p)
			}
			crashedNow = true
		}
	}()
	o := h.options()
	o.Root = r
	_, _ = bootstrap.Run(context.Background(), o)
	return false
}

func TestCrashAfterApplyBeforeMarker(t *testing.T) {
	hostM, zfs := &tmod{name: "host"}, &tmod{name: "zfs"}
	h := newHarness(t, hostM, zfs)
	h.seed.Kernel, h.seed.LXC = nil, nil
	// The crash hits the write of the marker itself: Apply finished, the
	// marker never landed.
	cr := &crashRoot{DirRoot: h.root, crashAt: bootstrap.MarkerFile("zfs"), before: true}
	if !runCrashing(h, cr) {
		t.Fatal("no crash")
	}
	if host.Exists(h.root, bootstrap.MarkerFile("zfs")) {
		t.Fatal("zfs marker written although the run died before it")
	}
	out, err := h.runOnce()
	if err != nil || !out.Complete {
		t.Fatalf("rerun = %+v, %v", out, err)
	}
	if !slices.Equal(out.Ran, []string{"zfs"}) {
		t.Errorf("rerun ran %v, want only zfs", out.Ran)
	}
	if zfs.applies != 2 || zfs.writes != 1 {
		t.Errorf("zfs applies=%d writes=%d: want Apply again (2) but the change made once (1)", zfs.applies, zfs.writes)
	}
	if m := h.status().Module("zfs"); m.State != bootstrap.Done || len(m.Changed) != 0 {
		t.Errorf("zfs status %+v: want done with nothing changed on the rerun", m)
	}
}

func TestCrashMidApply(t *testing.T) {
	zfs := &tmod{name: "zfs"}
	zfs.step = func(_ context.Context, e *modules.Env, n int) (modules.Result, error) {
		// Two files; the crash hits between them on the first Apply.
		if _, err := host.WriteIfChanged(e.Root, "/etc/zfs/a", []byte("a\n"), 0o644, host.Owner{}); err != nil {
			return modules.Result{}, err
		}
		_, err := host.WriteIfChanged(e.Root, "/etc/zfs/b", []byte("b\n"), 0o644, host.Owner{})
		return modules.Result{}, err
	}
	h := newHarness(t, zfs)
	h.seed = &seed.Seed{Version: 1, ZFS: &seed.ZFS{}}
	if !runCrashing(h, &crashRoot{DirRoot: h.root, crashAt: "/etc/zfs/a"}) {
		t.Fatal("no crash")
	}
	var prog bootstrap.InProgress
	b, err := h.root.ReadFile(bootstrap.InProgressFile)
	if err != nil || !strings.Contains(string(b), `"zfs"`) {
		t.Fatalf("in-progress record after the crash: %q, %v", b, err)
	}
	_ = prog
	out, err := h.runOnce()
	if err != nil || !out.Complete {
		t.Fatalf("rerun = %+v, %v", out, err)
	}
	for _, p := range []string{"/etc/zfs/a", "/etc/zfs/b", bootstrap.MarkerFile("zfs")} {
		if !host.Exists(h.root, p) {
			t.Errorf("%s missing after the rerun", p)
		}
	}
	if host.Exists(h.root, bootstrap.InProgressFile) {
		t.Error("in-progress record left behind")
	}
	if !strings.Contains(h.stderr.String(), "did not finish") {
		t.Errorf("the rerun did not say it resumes an interrupted module:\n%s", h.stderr.String())
	}
}

func TestRebootLoopGuard(t *testing.T) {
	kernel := &tmod{name: "kernel"}
	kernel.step = func(context.Context, *modules.Env, int) (modules.Result, error) {
		return modules.Result{Reboot: true, Reason: "still the old kernel"}, nil
	}
	lxc := &tmod{name: "lxc"}
	h := newHarness(t, kernel, lxc)
	for i := 1; i <= 3; i++ {
		if out, err := h.runOnce(); err != nil || out.State != bootstrap.Rebooting {
			t.Fatalf("run %d = %+v, %v; want rebooting", i, out, err)
		}
	}
	for i := 4; i <= 5; i++ {
		out, err := h.runOnce()
		if out.State != bootstrap.Failed || !errors.Is(err, bootstrap.ErrRebootLoop) {
			t.Fatalf("run %d = %+v, %v; want the reboot-loop guard", i, out, err)
		}
	}
	if h.reboots != 3 || lxc.applies != 0 {
		t.Errorf("reboots=%d lxc applies=%d; want 3 and 0", h.reboots, lxc.applies)
	}
	st := h.status()
	if st.State != bootstrap.Failed || !strings.Contains(st.Module("kernel").Failure.Error, "limit 3") {
		t.Errorf("status %s: kernel failure %+v", st.State, st.Module("kernel").Failure)
	}
}

func TestFailureStopsLaterModules(t *testing.T) {
	zfs := &tmod{name: "zfs"}
	zfs.step = func(ctx context.Context, e *modules.Env, _ int) (modules.Result, error) {
		_, err := e.Runner.Run(ctx, host.Cmd{Name: "zpool", Args: []string{"create", "tank", "mirror", "/dev/sdb", "/dev/sdc"}})
		if err != nil {
			return modules.Result{}, err
		}
		return modules.Result{Changed: []string{"pool tank"}}, nil
	}
	hostM, lxc := &tmod{name: "host"}, &tmod{name: "lxc"}
	h := newHarness(t, hostM, zfs, lxc)
	h.seed.Kernel = nil
	h.run.Script("zpool", fakehost.Fail(1, "cannot create 'tank': one or more devices is currently unavailable\n"), fakehost.OK(""))

	out, err := h.runOnce()
	if out.State != bootstrap.Failed || out.Module != "zfs" || host.ExitCode(err) != 1 {
		t.Fatalf("run = %+v, %v; want zfs failed with exit code 1", out, err)
	}
	if lxc.applies != 0 {
		t.Error("lxc ran after zfs failed")
	}
	st := h.status()
	f := st.Module("zfs").Failure
	if st.State != bootstrap.Failed || f == nil || f.Command != "zpool create tank mirror /dev/sdb /dev/sdc" || f.ExitCode != 1 ||
		!strings.Contains(f.Stderr, "currently unavailable") {
		t.Fatalf("status %s, zfs failure %+v", st.State, f)
	}
	if st.Module("lxc").State != bootstrap.Pending || st.Module("host").State != bootstrap.Done {
		t.Errorf("host %s, lxc %s; want done, pending", st.Module("host").State, st.Module("lxc").State)
	}
	for _, p := range []string{bootstrap.MotdFile, bootstrap.IssueFile} {
		b, _ := h.root.ReadFile(p)
		if !strings.Contains(string(b), "zfs failed") || !strings.Contains(string(b), "phoenix status") {
			t.Errorf("%s = %q; want a banner naming zfs and phoenix status", p, b)
		}
	}

	// Fixed (the fake now succeeds): the rerun finishes and clears the banner.
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("rerun = %+v, %v", out, err)
	}
	if host.Exists(h.root, bootstrap.MotdFile) || host.Exists(h.root, bootstrap.IssueFile) {
		t.Error("banner left after success")
	}
	if hostM.applies != 1 {
		t.Errorf("host applied %d times, want 1", hostM.applies)
	}
}

func TestChangedDigestRerunsOnlyThatModule(t *testing.T) {
	hostM, kernel, zfs, lxc := &tmod{name: "host"}, &tmod{name: "kernel"}, &tmod{name: "zfs"}, &tmod{name: "lxc"}
	h := newHarness(t, hostM, kernel, zfs, lxc)
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("run 1 = %+v, %v", out, err)
	}
	h.seed.Host.Hostname = "pve2"
	h.seed.LXC = nil // removed from the seed: reported, never undone
	out, err := h.runOnce()
	if err != nil || !out.Complete || !slices.Equal(out.Ran, []string{"host"}) {
		t.Fatalf("reseed run = %+v, %v; want only host", out, err)
	}
	if hostM.writes != 2 || kernel.applies != 1 || zfs.applies != 1 || lxc.applies != 1 {
		t.Errorf("host writes=%d kernel=%d zfs=%d lxc=%d", hostM.writes, kernel.applies, zfs.applies, lxc.applies)
	}
	st := h.status()
	if !slices.Equal(st.Unmanaged, []string{"lxc"}) || !strings.Contains(st.Module("lxc").Detail, "no longer managed") {
		t.Errorf("unmanaged = %v, lxc detail %q", st.Unmanaged, st.Module("lxc").Detail)
	}
	if !host.Exists(h.root, "/etc/lxc.conf") || !host.Exists(h.root, bootstrap.MarkerFile("lxc")) {
		t.Error("the removed module's work or marker was undone")
	}
	// Nothing changed: nothing runs.
	if out, _ := h.runOnce(); len(out.Ran) != 0 {
		t.Errorf("third run ran %v", out.Ran)
	}
}

func TestLockContention(t *testing.T) {
	hostM := &tmod{name: "host"}
	h := newHarness(t, hostM)
	lock, err := bootstrap.TakeLock(context.Background(), h.root, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.opts = func(o *bootstrap.Options) { o.LockWait = 200 * time.Millisecond }
	start := time.Now()
	_, err = h.runOnce()
	if !errors.Is(err, bootstrap.ErrLocked) || !strings.Contains(err.Error(), "phoenix status") {
		t.Fatalf("err = %v; want ErrLocked with a hint", err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Error("gave up before the wait")
	}
	if hostM.applies != 0 || host.Exists(h.root, bootstrap.StatusFile) {
		t.Error("a locked-out run did work")
	}
	if !bootstrap.Locked(h.root) {
		t.Error("Locked = false while held")
	}
	// Released during the wait: the waiting run proceeds.
	h.opts = func(o *bootstrap.Options) { o.LockWait = 5 * time.Second }
	go func() { time.Sleep(100 * time.Millisecond); lock.Unlock() }()
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("run after release = %+v, %v", out, err)
	}
}

func TestUnitDisabledAndReenabled(t *testing.T) {
	hostM, kernel := &tmod{name: "host"}, &tmod{name: "kernel"}
	h := newHarness(t, hostM, kernel)
	ctx := context.Background()
	if err := units.Enable(ctx, h.root, false, units.Boot); err != nil {
		t.Fatal(err)
	}
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("run = %+v, %v", out, err)
	}
	if bootstrap.BootEnabled(h.root) {
		t.Fatal("boot unit still enabled after completion")
	}
	// A reseed whose kernel work needs a reboot (the reseed path unit runs
	// phoenix with the boot unit disabled).
	kernel.step = rebootOnce(kernel)
	h.seed.Kernel = &seed.Kernel{Cmdline: []string{"intel_iommu=on"}}
	if out, err := h.runOnce(); err != nil || out.State != bootstrap.Rebooting {
		t.Fatalf("reseed run = %+v, %v", out, err)
	}
	if !bootstrap.BootEnabled(h.root) {
		t.Fatal("boot unit not re-enabled for the reseed's reboot")
	}
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("after reboot = %+v, %v", out, err)
	}
	if bootstrap.BootEnabled(h.root) {
		t.Error("boot unit enabled after the reseed completed")
	}
}

func TestSelectWritesNoMarker(t *testing.T) {
	hostM, lxc := &tmod{name: "host"}, &tmod{name: "lxc"}
	var got []string
	lxc.step = func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
		got = e.Select
		e.ReportItem(modules.Item{Name: "101", State: "done"})
		return modules.Result{}, nil
	}
	h := newHarness(t, hostM, lxc)
	h.opts = func(o *bootstrap.Options) {
		o.Only = []string{"lxc"}
		o.Select = map[string][]string{"lxc": {"101"}}
	}
	out, err := h.runOnce()
	if err != nil || out.State != bootstrap.Done || out.Complete {
		t.Fatalf("run = %+v, %v; want done, not complete", out, err)
	}
	if !slices.Equal(got, []string{"101"}) || hostM.applies != 0 {
		t.Errorf("select %v, host applies %d", got, hostM.applies)
	}
	if len(h.markers()) != 0 {
		t.Errorf("markers %v; a selected run writes none", h.markers())
	}
	st := h.status()
	if st.State != bootstrap.Pending || len(st.Module("lxc").Items) != 1 || st.Module("host").State != bootstrap.Pending {
		t.Errorf("status %+v", st)
	}
	if host.Exists(h.root, bootstrap.CompletionFile) {
		t.Error("completion written for a partial run")
	}
}

func TestInvalidSeedRunsNothing(t *testing.T) {
	hostM := &tmod{name: "host"}
	h := newHarness(t, hostM)
	h.opts = func(o *bootstrap.Options) {
		o.Seed = nil
		o.SeedErr = errors.New("seed.yaml:12:7: zfs.pools[0].disks[1]: not a disk")
	}
	out, err := h.runOnce()
	if out.State != bootstrap.Invalid || err == nil || hostM.applies != 0 {
		t.Fatalf("run = %+v, %v, host applies %d", out, err, hostM.applies)
	}
	st := h.status()
	if st.State != bootstrap.Invalid || !strings.Contains(st.Error, "seed.yaml:12:7") || st.State.ExitCode() != 1 {
		t.Errorf("status %s %q", st.State, st.Error)
	}
}

func TestDisabledRunsNothing(t *testing.T) {
	hostM := &tmod{name: "host"}
	h := newHarness(t, hostM)
	if err := h.root.WriteFile(bootstrap.DisabledFile, nil, 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	out, err := h.runOnce()
	if out.State != bootstrap.Disabled || err != nil || hostM.applies != 0 {
		t.Fatalf("run = %+v, %v", out, err)
	}
}

func TestModulePanicIsAFailure(t *testing.T) {
	m := &tmod{name: "host"}
	m.step = func(context.Context, *modules.Env, int) (modules.Result, error) { panic("boom") }
	h := newHarness(t, m)
	out, err := h.runOnce()
	if out.State != bootstrap.Failed || err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("run = %+v, %v", out, err)
	}
}

const (
	pwHash = "$6$rounds=5000$saltsalt$Kq0wJ6mZp8bYQ0m7m1rJx2dS0w9Yc1Yk3e8F1w2Zp0q1T9m2n3b4v5c6x7z8a9s0d1f2g3h4j5k6l7"
	ntHash = "8846F7EAEE8FB117AD06BDD830B7586C"
)

// TestSecretsNeverLeak: a careless module and a tool that echoes its stdin
// must not get the seed's password hashes into logs, markers, status or argv.
func TestSecretsNeverLeak(t *testing.T) {
	users := &tmod{name: "users"}
	samba := &tmod{name: "samba"}
	users.step = func(ctx context.Context, e *modules.Env, _ int) (modules.Result, error) {
		u := e.Seed.Users[0]
		// Right: the hash on stdin. The fake chpasswd echoes it back on stderr.
		if _, err := e.Runner.Run(ctx, host.Cmd{Name: "chpasswd", Args: []string{"-e"}, Stdin: []byte(u.Name + ":" + u.PasswordHash + "\n")}); err != nil {
			return modules.Result{}, err
		}
		// Careless: the hash in a log line, a progress line, an item and the result.
		e.Log.Info("set password", "hash", u.PasswordHash)
		e.Say("password " + u.PasswordHash)
		e.ReportItem(modules.Item{Name: u.Name, State: "done", Detail: u.PasswordHash})
		return modules.Result{Changed: []string{"password of admin: " + u.PasswordHash}}, nil
	}
	h := newHarness(t, users, samba)
	h.seed = &seed.Seed{Version: 1,
		Users: []seed.User{{Name: "admin", PasswordHash: pwHash}},
		Samba: &seed.Samba{Users: []seed.SambaUser{{Name: "admin", NTHash: ntHash}, {Name: "media", PasswordFile: "/etc/phoenix/media.pw"}}},
	}
	const filePW = "correct horse battery staple"
	if err := h.root.WriteFile("/etc/phoenix/media.pw", []byte(filePW+"\n"), 0o600, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	samba.step = func(ctx context.Context, e *modules.Env, _ int) (modules.Result, error) {
		su := e.Seed.Samba.Users[0]
		pw, _ := e.Root.ReadFile(e.Seed.Samba.Users[1].PasswordFile)
		e.Log.Info("media password is " + string(pw))
		_, err := e.Runner.Run(ctx, host.Cmd{Name: "pdbedit", Args: []string{"-i", "smbpasswd"}, Stdin: []byte(su.Name + ":" + su.NTHash + "\n")})
		return modules.Result{}, err
	}
	h.run.Handle("chpasswd", func(_ context.Context, c fakehost.Call) fakehost.Result { return fakehost.OK("") })
	h.run.Handle("pdbedit", func(_ context.Context, c fakehost.Call) fakehost.Result {
		return fakehost.Fail(1, "pdbedit: bad line: "+string(c.Stdin))
	})
	var notified []string
	h.opts = func(o *bootstrap.Options) { o.Notify = func(s string) { notified = append(notified, s) } }
	out, err := h.runOnce()
	if out.State != bootstrap.Failed || out.Module != "samba" {
		t.Fatalf("run = %+v, %v; want samba failed", out, err)
	}
	texts := map[string]string{
		"error":     err.Error(),
		"stderr":    h.stderr.String(),
		"argv":      h.run.Log(),
		"sd_notify": strings.Join(notified, "\n"),
	}
	_ = filepath.WalkDir(h.root.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(filepath.Base(p), "seed.") || strings.HasSuffix(p, ".pw") {
			return nil // the 0600 seed copy and the password file are where secrets belong
		}
		b, _ := os.ReadFile(p)
		texts[p] = string(b)
		return nil
	})
	for _, must := range []string{filepath.Join(h.root.Dir(), bootstrap.LogFile), filepath.Join(h.root.Dir(), bootstrap.StatusFile), filepath.Join(h.root.Dir(), bootstrap.MarkerFile("users"))} {
		if _, ok := texts[must]; !ok {
			t.Errorf("%s was not written: the test would prove nothing", must)
		}
	}
	for name, text := range texts {
		for _, secret := range []string{pwHash, ntHash, "saltsalt$Kq0w", filePW} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %.12s... leaked into %s:\n%s", secret, name, text)
			}
		}
	}
	if st := texts[filepath.Join(h.root.Dir(), bootstrap.StatusFile)]; !strings.Contains(st, host.Redacted) {
		t.Log(st)
		t.Error("status shows no <redacted> mark: was the failing stderr recorded at all?")
	}
	fi, err := os.Stat(filepath.Join(h.root.Dir(), bootstrap.SeedCopy("seed.yaml")))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seed copy: %v, mode %v; want 0600", err, fi)
	}
}

// TestProgressAndJournal: Say becomes an sd_notify STATUS= line "name i/n:
// msg", READY=1 comes at the end, and journal entries carry MODULE= and
// SEED_DIGEST=.
func TestProgressAndJournal(t *testing.T) {
	hostM, zfs := &tmod{name: "host"}, &tmod{name: "zfs"}
	zfs.step = func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
		e.Say("creating pool tank")
		return modules.Result{}, nil
	}
	h := newHarness(t, hostM, zfs)
	h.seed.Kernel, h.seed.LXC = nil, nil
	var notes []string
	var entries []map[string]string
	h.opts = func(o *bootstrap.Options) {
		o.Notify = func(s string) { notes = append(notes, s) }
		o.Journal = func(msg string, prio int, f map[string]string) error {
			f["MESSAGE"] = msg
			entries = append(entries, f)
			return nil
		}
		o.Stderr = nil
	}
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("%+v %v", out, err)
	}
	if !slices.Contains(notes, "STATUS=zfs 2/2: creating pool tank") {
		t.Errorf("notify lines %q: want the zfs progress line", notes)
	}
	if notes[len(notes)-1] != "READY=1" {
		t.Errorf("last notify %q, want READY=1", notes[len(notes)-1])
	}
	found := false
	for _, e := range entries {
		if e["MODULE"] == "zfs" && strings.Contains(e["MESSAGE"], "creating pool tank") && strings.HasPrefix(e["SEED_DIGEST"], "sha256:") {
			found = true
		}
	}
	if !found {
		t.Errorf("no journal entry with MODULE=zfs and SEED_DIGEST: %v", entries)
	}
	if h.stderr.Len() != 0 {
		t.Errorf("stderr written although the journal took the lines: %q", h.stderr.String())
	}
}

// TestCommandTimes: each module's commands are timed into its status and
// marker (argv only, secrets redacted), and a rebooting module's record
// keeps the commands it ran before the reboot.
func TestCommandTimes(t *testing.T) {
	hostM, kernel := &tmod{name: "host"}, &tmod{name: "kernel"}
	hostM.step = func(ctx context.Context, e *modules.Env, _ int) (modules.Result, error) {
		// The fast command returns at once and the slow one sleeps 250 ms, so
		// their order survives a loaded machine.
		for _, d := range []string{"0.25", "0"} {
			if _, err := e.Runner.Run(ctx, host.Cmd{Name: "sleep", Args: []string{d}, Stdin: []byte("hunter2-secret")}); err != nil {
				return modules.Result{}, err
			}
		}
		return hostM.converge(e)
	}
	reboot := rebootOnce(kernel)
	kernel.step = func(ctx context.Context, e *modules.Env, n int) (modules.Result, error) {
		if _, err := e.Runner.Run(ctx, host.Cmd{Name: "update-grub", Args: []string{"boot" + string(rune('0'+n))}}); err != nil {
			return modules.Result{}, err
		}
		return reboot(ctx, e, n)
	}
	h := newHarness(t, hostM, kernel)
	h.run.Handle("sleep", func(ctx context.Context, c fakehost.Call) fakehost.Result {
		d, _ := time.ParseDuration(c.Cmd.Args[0] + "s")
		time.Sleep(d)
		return fakehost.OK("")
	})
	h.run.Script("update-grub", fakehost.OK(""))
	for i := 0; i < 2; i++ {
		if _, err := h.runOnce(); err != nil {
			t.Fatal(err)
		}
	}
	st := h.status()
	hc := st.Module("host").Commands
	if hc == nil || hc.Count != 2 || len(hc.Slowest) != 2 {
		t.Fatalf("host commands = %+v, want 2 timed", hc)
	}
	if hc.Slowest[0].Command != "sleep 0.25 <stdin>" || hc.Slowest[0].Seconds < 0.25 || hc.Slowest[1].Command != "sleep 0 <stdin>" || hc.Seconds < 0.25 {
		t.Errorf("host slowest = %+v (total %v), want sleep 0.25 first, at least 250 ms", hc.Slowest, hc.Seconds)
	}
	kc := st.Module("kernel").Commands
	if kc == nil || kc.Count != 2 {
		t.Fatalf("kernel commands = %+v, want both boots' update-grub", kc)
	}
	var cmds []string
	for _, c := range kc.Slowest {
		cmds = append(cmds, c.Command)
	}
	slices.Sort(cmds)
	if !slices.Equal(cmds, []string{"update-grub boot1", "update-grub boot2"}) {
		t.Errorf("kernel slowest = %q, want the command from before the reboot too", cmds)
	}
	mk, err := bootstrap.ReadMarkers(h.root)
	if err != nil {
		t.Fatal(err)
	}
	if c := mk["kernel"].Commands; c == nil || c.Count != 2 {
		t.Errorf("kernel marker commands = %+v, want 2", c)
	}
	if host.Exists(h.root, bootstrap.CursorFile) {
		t.Error("cursor left behind")
	}
	// A later run that applies nothing keeps the recorded times.
	if _, err := h.runOnce(); err != nil {
		t.Fatal(err)
	}
	if c := h.status().Module("host").Commands; c == nil || c.Count != 2 {
		t.Errorf("after a converged run host commands = %+v, want kept", c)
	}
	for _, p := range []string{bootstrap.StatusFile, bootstrap.MarkerFile("host")} {
		if b, _ := h.root.ReadFile(p); bytes.Contains(b, []byte("hunter2")) {
			t.Errorf("%s holds the stdin secret", p)
		}
	}
}

// TestL6StaleInProgressCleared: a crash after a module's marker but before
// the in-progress record's removal leaves a stale record; the next run
// clears it instead of announcing, on every run, a rerun that never comes.
func TestL6StaleInProgressCleared(t *testing.T) {
	hostM := &tmod{name: "host"}
	h := newHarness(t, hostM)
	if _, err := h.runOnce(); err != nil {
		t.Fatal(err)
	}
	stale := `{"module":"host","digest":"x","boot_id":"boot-1","started":"2026-01-01T00:00:00Z"}`
	if err := h.root.WriteFile(bootstrap.InProgressFile, []byte(stale), 0o600, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		h.stderr.Reset()
		if _, err := h.runOnce(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h.stderr.String(), "did not finish") {
			t.Fatalf("run %d still announces a rerun:\n%s", i+1, h.stderr.String())
		}
		if host.Exists(h.root, bootstrap.InProgressFile) {
			t.Fatalf("run %d left the stale in-progress record", i+1)
		}
	}
}

func (m *tmod) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

// statusAtDisable records status.json's state when the boot unit is
// disabled: the moment a power cut would freeze.
type statusAtDisable struct {
	bootstrap.BootUnits
	state bootstrap.State
}

func (u *statusAtDisable) DisableBoot(ctx context.Context) error {
	st, _, _ := bootstrap.ReadStatus(u.Root)
	u.state = st.State
	return u.BootUnits.DisableBoot(ctx)
}

// TestDoneSavedBeforeDisable: make powercut (docs/perf/powercut.md) killed
// a VM between the unit's disable and the final status write; the disabled
// unit never ran again and status.json said "running" for ever. The status
// must say done before the unit goes.
func TestDoneSavedBeforeDisable(t *testing.T) {
	h := newHarness(t, &tmod{name: "host"})
	ctx := context.Background()
	if err := units.Enable(ctx, h.root, false, units.Boot); err != nil {
		t.Fatal(err)
	}
	u := &statusAtDisable{BootUnits: bootstrap.BootUnits{Root: h.root}}
	h.opts = func(o *bootstrap.Options) { o.Units = u }
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("run = %+v, %v", out, err)
	}
	if u.state != bootstrap.Done {
		t.Errorf("status.json when the boot unit was disabled = %q, want %q", u.state, bootstrap.Done)
	}
	if bootstrap.BootEnabled(h.root) {
		t.Error("boot unit still enabled after completion")
	}
}

// A power cut between an atomic write's temp file and its rename leaves the
// temp file beside its target (make powercut found .users.json<digits> in
// markers/). The next run removes such files from the state tree, says so
// in the log, and leaves every other file alone, the bundle's included.
func TestRunSweepsTempFilesOfCutWrites(t *testing.T) {
	h := newHarness(t, &tmod{name: "host"})
	dir := h.root.Dir()
	litter := []string{
		bootstrap.MarkerDir + "/.users.json5448461423619942775",
		bootstrap.StateDir + "/.status.json.tmp123",
		bootstrap.StateDir + "/data/zfs/.creating.json42",
	}
	kept := []string{
		bootstrap.StateDir + "/data/zfs/creating.json",
		bootstrap.StateDir + "/bundle/.env2", // the user's file, copied from the seed volume
		bootstrap.StateDir + "/.keep",        // no digits: not a temp name
	}
	for _, p := range append(append([]string{}, litter...), kept...) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("run = %+v, %v", out, err)
	}
	for _, p := range litter {
		if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still there after the run (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: removed: %v", p, err)
		}
	}
	log, err := os.ReadFile(filepath.Join(dir, bootstrap.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "removed 3 temporary file(s)") || !strings.Contains(string(log), litter[0]) {
		t.Errorf("log does not name the removed files:\n%s", log)
	}
}

// TestRunCPURecorded: a run that starts a module records its CPU time in
// status.json (phoenix status --timings); a converged run after it, in
// the next boot, keeps those figures and leaves status.json as it was
// (a provisioned host's boots write nothing), though its own CPU differs:
// the modules' CPU times too, which the markers do not keep (until
// 2026-12-03 a converged boot dropped them and rewrote the file).
func TestRunCPURecorded(t *testing.T) {
	h := newHarness(t, &tmod{name: "host"})
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("run = %+v, %v", out, err)
	}
	st := h.status()
	if st.CPU == nil || st.CPU.Phoenix <= 0 {
		t.Fatalf("status CPU after a run that applied a module = %+v, want Phoenix's CPU above zero", st.CPU)
	}
	before, err := h.root.ReadFile(bootstrap.StatusFile)
	if err != nil {
		t.Fatal(err)
	}
	h.boot++
	if out, err := h.runOnce(); err != nil || !out.Complete {
		t.Fatalf("converged run = %+v, %v", out, err)
	}
	after, err := h.root.ReadFile(bootstrap.StatusFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("a converged run rewrote status.json:\nbefore %s\nafter  %s", before, after)
	}
}
