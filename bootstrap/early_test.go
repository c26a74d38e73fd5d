package bootstrap_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// emod is a tmod that can run in the early stage (modules.Early) and
// records the stage each Apply ran in.
type emod struct {
	*tmod
	early  bool
	stages []bool // Env.EarlyStage of each Apply
}

func (m *emod) Early(context.Context, *modules.Env) (bool, string) {
	return m.early, "test: needs the network"
}

func (m *emod) Apply(ctx context.Context, e *modules.Env) (modules.Result, error) {
	m.stages = append(m.stages, e.EarlyStage)
	return m.tmod.Apply(ctx, e)
}

func (m *emod) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}

func (h *harness) runStage(early bool) (bootstrap.Outcome, error) {
	h.t.Helper()
	o := h.options()
	o.Early = early
	out, err := bootstrap.Run(context.Background(), o)
	if out.State == bootstrap.Rebooting {
		h.boot++
	}
	return out, err
}

// TestEarlyStage: the early stage runs the leading modules that need no
// network, in order, stops at the first that does (even when later ones
// could run early: order is kept), leaves a reboot being resumed to the
// network stage, and the network stage finishes the seed.
func TestEarlyStage(t *testing.T) {
	hostM := &emod{tmod: &tmod{name: "host"}, early: true}
	kernel := &tmod{name: "kernel"} // no Early method: network stage only
	kernel.step = rebootOnce(kernel)
	zfs := &emod{tmod: &tmod{name: "zfs"}, early: true}
	lxc := &emod{tmod: &tmod{name: "lxc"}, early: true}
	h := newHarness(t, hostM, kernel, zfs, lxc)

	// Boot 1, early stage: host only.
	out, err := h.runStage(true)
	if err != nil || out.State != bootstrap.Done || out.Complete || out.Module != "kernel" || !slices.Equal(out.Ran, []string{"host"}) {
		t.Fatalf("early run 1 = %+v, %v; want done (not complete) after host, stopped at kernel", out, err)
	}
	if st := h.status(); st.State != bootstrap.Pending || st.Module("host").State != bootstrap.Done || st.Module("kernel").State != bootstrap.Pending {
		t.Errorf("status after the early stage: %s, host %s, kernel %s; want pending, done, pending", st.State, st.Module("host").State, st.Module("kernel").State)
	}
	if !slices.Equal(hostM.stages, []bool{true}) {
		t.Errorf("host ran in stages %v, want [early]", hostM.stages)
	}
	if host.Exists(h.root, bootstrap.EarlyDoneFile) {
		t.Error("early-done written though the seed is not done")
	}
	// Boot 1, network stage: kernel asks for the reboot.
	if out, err = h.runStage(false); err != nil || out.State != bootstrap.Rebooting {
		t.Fatalf("network run 1 = %+v, %v; want rebooting", out, err)
	}
	// Boot 2, early stage: the resume is the network stage's; nothing runs.
	if out, err = h.runStage(true); err != nil || len(out.Ran) != 0 || out.Module != "kernel" {
		t.Fatalf("early run 2 = %+v, %v; want nothing run, kernel left to the network stage", out, err)
	}
	if st := h.status(); st.Module("kernel").Reboots != 1 {
		t.Errorf("the early stage lost the cursor: kernel reboots %d", st.Module("kernel").Reboots)
	}
	// Boot 2, network stage: kernel verifies, then zfs and lxc.
	out, err = h.runStage(false)
	if err != nil || !out.Complete || !slices.Equal(out.Ran, []string{"kernel", "zfs", "lxc"}) {
		t.Fatalf("network run 2 = %+v, %v; want complete after kernel zfs lxc", out, err)
	}
	if !slices.Equal(zfs.stages, []bool{false}) || hostM.applies != 1 || kernel.applies != 2 || h.reboots != 1 {
		t.Errorf("zfs stages %v, applies host=%d kernel=%d, reboots %d; want [network], 1, 2, 1", zfs.stages, hostM.applies, kernel.applies, h.reboots)
	}
}

// TestEarlyStageCompletes: a seed whose modules all run early is done in
// the early stage, which writes the completion record and EarlyDoneFile
// (phoenix.service's condition); a network stage after it changes nothing.
func TestEarlyStageCompletes(t *testing.T) {
	a := &emod{tmod: &tmod{name: "host"}, early: true}
	b := &emod{tmod: &tmod{name: "zfs"}, early: true}
	h := newHarness(t, a, b)
	h.seed.Kernel, h.seed.LXC = nil, nil
	out, err := h.runStage(true)
	if err != nil || !out.Complete || !slices.Equal(out.Ran, []string{"host", "zfs"}) {
		t.Fatalf("early run = %+v, %v; want complete", out, err)
	}
	if !host.Exists(h.root, bootstrap.EarlyDoneFile) || !host.Exists(h.root, bootstrap.CompletionFile) {
		t.Error("want the completion record and the early-done file")
	}
	if out, err = h.runStage(false); err != nil || !out.Complete || len(out.Ran) != 0 {
		t.Fatalf("network run = %+v, %v; want converged, nothing run", out, err)
	}
}

// TestEarlyStageFailure: a module that fails in the early stage is not
// recorded as failed there (no banner, status pending): the network stage
// runs it again, and only a failure there is the run's failure.
func TestEarlyStageFailure(t *testing.T) {
	flaky := &emod{tmod: &tmod{name: "host"}, early: true}
	flaky.step = func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
		if e.EarlyStage {
			return modules.Result{}, errors.New("the resolver is not up yet")
		}
		return flaky.converge(e)
	}
	later := &emod{tmod: &tmod{name: "zfs"}, early: true}
	h := newHarness(t, flaky, later)
	h.seed.Kernel, h.seed.LXC = nil, nil
	out, err := h.runStage(true)
	if err != nil || out.State != bootstrap.Done || out.Complete || later.applies != 0 {
		t.Fatalf("early run = %+v, %v (zfs applies %d); want done, not complete, zfs not run", out, err, later.applies)
	}
	st := h.status()
	if st.State != bootstrap.Pending || st.Module("host").State != bootstrap.Pending || st.Module("host").Failure != nil {
		t.Errorf("status after the early failure: %s, host %s %+v; want pending, no failure", st.State, st.Module("host").State, st.Module("host").Failure)
	}
	if host.Exists(h.root, bootstrap.InProgressFile) || host.Exists(h.root, bootstrap.MotdFile) {
		t.Error("the early failure left the in-progress record or a banner")
	}
	if out, err = h.runStage(false); err != nil || !out.Complete || !slices.Equal(out.Ran, []string{"host", "zfs"}) {
		t.Fatalf("network run = %+v, %v; want complete after host zfs", out, err)
	}
	// The same failure in the network stage is the run's.
	h2 := newHarness(t, &emod{tmod: &tmod{name: "host", step: func(context.Context, *modules.Env, int) (modules.Result, error) {
		return modules.Result{}, errors.New("broken")
	}}, early: true})
	h2.seed.Kernel, h2.seed.ZFS, h2.seed.LXC = nil, nil, nil
	if out, err := h2.runStage(false); err == nil || out.State != bootstrap.Failed {
		t.Fatalf("network-stage failure = %+v, %v; want failed", out, err)
	}
}

// TestEarlyStageReport: the early stage never sends the report (no
// network), and with one to send it leaves phoenix.service to run (no
// early-done file), which sends it.
func TestEarlyStageReport(t *testing.T) {
	h := newHarness(t, &emod{tmod: &tmod{name: "host"}, early: true})
	h.seed.Kernel, h.seed.ZFS, h.seed.LXC = nil, nil, nil
	var sent []bootstrap.State
	h.opts = func(o *bootstrap.Options) {
		o.Ended = func(_ context.Context, st bootstrap.Status) error { sent = append(sent, st.State); return nil }
	}
	if out, err := h.runStage(true); err != nil || !out.Complete {
		t.Fatalf("early run = %+v, %v; want complete", out, err)
	}
	if len(sent) != 0 || host.Exists(h.root, bootstrap.EarlyDoneFile) {
		t.Fatalf("early stage: sent %v, early-done written %v; want neither", sent, host.Exists(h.root, bootstrap.EarlyDoneFile))
	}
	if _, err := h.runStage(false); err != nil || !slices.Equal(sent, []bootstrap.State{bootstrap.Done}) {
		t.Fatalf("network stage sent %v, %v; want [done]", sent, err)
	}
}

// cmod is an emod that runs beside the earlier modules it names
// (modules.Concurrent).
type cmod struct {
	*emod
	along []string
}

func (m *cmod) Alongside(context.Context, *modules.Env) []string { return m.along }

// TestEarlyStageBeside: in the early stage a module runs at the same time
// as the earlier modules it names (each of host and zfs waits, inside its
// Apply, for the other to have started: run one after the other, both
// would time out), a module that names none waits for all of them, one
// in-progress record names the stage's modules, and a failure beside
// others leaves what finished done and starts nothing more.
func TestEarlyStageBeside(t *testing.T) {
	newMods := func(hostStep func(context.Context, *modules.Env, int) (modules.Result, error)) (*cmod, *cmod, *cmod, chan struct{}, chan struct{}) {
		hostStarted, zfsStarted := make(chan struct{}), make(chan struct{})
		meet := func(mine, other chan struct{}, next func(context.Context, *modules.Env, int) (modules.Result, error)) func(context.Context, *modules.Env, int) (modules.Result, error) {
			return func(ctx context.Context, e *modules.Env, n int) (modules.Result, error) {
				if n == 1 {
					close(mine)
					select {
					case <-other:
					case <-time.After(10 * time.Second):
						return modules.Result{}, errors.New("the other module never started beside this one")
					}
				}
				return next(ctx, e, n)
			}
		}
		hostM := &cmod{emod: &emod{tmod: &tmod{name: "host"}, early: true}}
		zfs := &cmod{emod: &emod{tmod: &tmod{name: "zfs"}, early: true}, along: []string{"host"}}
		lxc := &cmod{emod: &emod{tmod: &tmod{name: "lxc"}, early: true}}
		hostM.step = meet(hostStarted, zfsStarted, hostStep)
		zfs.step = meet(zfsStarted, hostStarted, func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
			var rec bootstrap.InProgress
			b, err := e.Root.ReadFile(bootstrap.InProgressFile)
			if err == nil {
				err = json.Unmarshal(b, &rec)
			}
			if err != nil || rec.Module != "host" || !slices.Equal(rec.Alongside, []string{"zfs", "lxc"}) {
				return modules.Result{}, fmt.Errorf("in-progress record %+v (%v), want host alongside zfs, lxc", rec, err)
			}
			return zfs.converge(e)
		})
		lxc.step = func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
			for _, m := range []string{"host", "zfs"} {
				if !host.Exists(e.Root, bootstrap.MarkerFile(m)) {
					return modules.Result{}, fmt.Errorf("lxc started before %s was done", m)
				}
			}
			return lxc.converge(e)
		}
		return hostM, zfs, lxc, hostStarted, zfsStarted
	}

	t.Run("together", func(t *testing.T) {
		var hostM *cmod
		hostM, zfs, lxc, _, _ := newMods(func(_ context.Context, e *modules.Env, _ int) (modules.Result, error) {
			return hostM.converge(e)
		})
		h := newHarness(t, hostM, zfs, lxc)
		h.seed.Kernel = nil
		out, err := h.runStage(true)
		if err != nil || !out.Complete || len(out.Ran) != 3 || out.Ran[2] != "lxc" {
			t.Fatalf("early run = %+v, %v; want complete, lxc last", out, err)
		}
		st := h.status()
		for _, m := range []string{"host", "zfs", "lxc"} {
			if st.Module(m).State != bootstrap.Done {
				t.Errorf("%s: %s, want done (%s)", m, st.Module(m).State, st.Module(m).Detail)
			}
		}
		if host.Exists(h.root, bootstrap.InProgressFile) {
			t.Error("the in-progress record is left after the stage")
		}
	})

	t.Run("failure", func(t *testing.T) {
		hostM, zfs, lxc, _, _ := newMods(func(context.Context, *modules.Env, int) (modules.Result, error) {
			return modules.Result{}, errors.New("the resolver is not up yet")
		})
		h := newHarness(t, hostM, zfs, lxc)
		h.seed.Kernel = nil
		out, err := h.runStage(true)
		if err != nil || out.Complete || out.Module != "host" || lxc.applies != 0 {
			t.Fatalf("early run = %+v, %v (lxc applies %d); want stopped at host, lxc not run", out, err, lxc.applies)
		}
		st := h.status()
		if st.Module("host").State != bootstrap.Pending || st.Module("zfs").State != bootstrap.Done || st.Module("lxc").State != bootstrap.Pending {
			t.Errorf("host %s, zfs %s, lxc %s; want pending, done, pending", st.Module("host").State, st.Module("zfs").State, st.Module("lxc").State)
		}
		if host.Exists(h.root, bootstrap.InProgressFile) {
			t.Error("the in-progress record is left after the stage")
		}
	})
}
