package nvidia

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/nvidia/fake"
)

// engineRun runs the real engine once over the rig; reboots only count.
func (r *rig) engineRun(s *modules.Env, reboots *int) (bootstrap.Outcome, error) {
	return bootstrap.Run(context.Background(), bootstrap.Options{
		Root: r.root, Runner: r.run, Modules: []modules.Module{r.mod}, Seed: s.Seed,
		Version: "test", Reboot: func(context.Context) error { *reboots++; return nil },
	})
}

func (r *rig) cursor() bootstrap.Cursor {
	var c bootstrap.Cursor
	b, err := r.root.ReadFile(bootstrap.CursorFile)
	if err != nil {
		r.t.Fatalf("cursor: %v", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r *rig) status() bootstrap.ModuleStatus {
	st, _, err := bootstrap.ReadStatus(r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, m := range st.Modules {
		if m.Name == "nvidia" {
			return m
		}
	}
	r.t.Fatalf("no nvidia in status %+v", st)
	return bootstrap.ModuleStatus{}
}

// TestEngineTwoReboots drives the two-reboot flow through the real engine
// (boot id read from the fake's /proc), checking the cursor, the
// per-module reboot count and status after each boot.
func TestEngineTwoReboots(t *testing.T) {
	st := fake.NewState(kernel, 1, debV)
	st.LoadNeedsReboot = true
	r := newRig(t, st)
	env := r.env(runfileSeed(v1, url1))
	reboots := 0
	for boot, want := range []struct {
		state  bootstrap.State
		reason string
	}{{bootstrap.Rebooting, "nouveau"}, {bootstrap.Rebooting, "Device or resource busy"}, {bootstrap.Done, ""}} {
		out, err := r.engineRun(env, &reboots)
		if err != nil || out.State != want.state {
			t.Fatalf("boot %d: outcome %+v err %v, want %s", boot+1, out, err, want.state)
		}
		ms := r.status()
		if want.state == bootstrap.Rebooting {
			c := r.cursor()
			if c.Module != "nvidia" || c.Reboots["nvidia"] != boot+1 || !strings.Contains(c.Reason, want.reason) {
				t.Errorf("boot %d: cursor %+v", boot+1, c)
			}
			if ms.State != bootstrap.Running || ms.Reboots != boot+1 {
				t.Errorf("boot %d: status %+v", boot+1, ms)
			}
			r.boot()
			continue
		}
		if ms.State != bootstrap.Done || ms.Reboots != 2 || !out.Complete {
			t.Errorf("final status %+v complete %v", ms, out.Complete)
		}
	}
	if reboots != 2 {
		t.Errorf("%d reboots, want 2", reboots)
	}
}

// TestEngineNoThirdReboot: the driver never loads; after its second reboot
// the module fails clearly and the engine reboots no more.
func TestEngineNoThirdReboot(t *testing.T) {
	st := fake.NewState(kernel, 1, debV)
	st.Broken = true
	r := newRig(t, st)
	env := r.env(runfileSeed(v1, url1))
	reboots := 0
	for i := 0; i < 2; i++ {
		if out, err := r.engineRun(env, &reboots); err != nil || out.State != bootstrap.Rebooting {
			t.Fatalf("run %d: %+v %v", i+1, out, err)
		}
		r.boot()
	}
	out, err := r.engineRun(env, &reboots)
	if out.State != bootstrap.Failed || err == nil || errors.Is(err, bootstrap.ErrRebootLoop) {
		t.Fatalf("run 3: %+v %v, want the module's own failure", out, err)
	}
	ms := r.status()
	if ms.Failure == nil || !strings.Contains(ms.Failure.Error, "still does not load after a reboot") || ms.Reboots != 2 {
		t.Errorf("status %+v failure %+v", ms, ms.Failure)
	}
	if reboots != 2 {
		t.Errorf("%d reboots, want 2", reboots)
	}
}
