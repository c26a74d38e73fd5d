package bootstrap_test

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// syncLog is a root that records, in order, each file replaced and whether
// the write was durable (WriteFile) or not (host.WriteVolatile).
type syncLog struct {
	*host.DirRoot
	writes []write
}

type write struct {
	path    string
	durable bool
}

func (r *syncLog) WriteFile(p string, data []byte, mode fs.FileMode, o host.Owner) error {
	r.writes = append(r.writes, write{p, true})
	return r.DirRoot.WriteFile(p, data, mode, o)
}

func (r *syncLog) WriteFileVolatile(p string, data []byte, mode fs.FileMode, o host.Owner) error {
	r.writes = append(r.writes, write{p, false})
	return r.DirRoot.WriteFileVolatile(p, data, mode, o)
}

// of lists the writes of p, durable or not, in order.
func (r *syncLog) of(p string) []bool {
	var out []bool
	for _, w := range r.writes {
		if w.path == p {
			out = append(out, w.durable)
		}
	}
	return out
}

// The status a run leaves is durable, and so is the write that creates
// status.json; the status writes on the way are not; the records the next
// run decides by (markers, in-progress record, cursor) always are.
func TestStatusDurableAtTheEndOnly(t *testing.T) {
	cases := []struct {
		name  string
		mods  func() []modules.Module
		state bootstrap.State
	}{
		{"done", func() []modules.Module { return []modules.Module{&tmod{name: "host"}, &tmod{name: "zfs"}} }, bootstrap.Done},
		{"rebooting", func() []modules.Module {
			k := &tmod{name: "kernel"}
			k.step = rebootOnce(k)
			return []modules.Module{&tmod{name: "host"}, k}
		}, bootstrap.Rebooting},
		{"failed", func() []modules.Module {
			z := &tmod{name: "zfs"}
			z.step = func(context.Context, *modules.Env, int) (modules.Result, error) {
				return modules.Result{}, errors.New("no disks")
			}
			return []modules.Module{&tmod{name: "host"}, z}
		}, bootstrap.Failed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.mods()...)
			h.seed = &seed.Seed{Version: 1, Host: &seed.Host{Hostname: "pve1"}, Kernel: &seed.Kernel{}, ZFS: &seed.ZFS{}}
			r := &syncLog{DirRoot: h.root}
			o := h.options()
			o.Root = r
			out, _ := bootstrap.Run(context.Background(), o)
			if out.State != c.state {
				t.Fatalf("run ended %s, want %s", out.State, c.state)
			}
			st := r.of(bootstrap.StatusFile)
			if len(st) < 3 {
				t.Fatalf("status written %d times, want the run's start, each module and the end", len(st))
			}
			if !st[0] || !st[len(st)-1] {
				t.Errorf("the first status write (it creates the file) or the run's last is not durable: %v", st)
			}
			for i, d := range st[1 : len(st)-1] {
				if d {
					t.Errorf("status write %d of %d on the way is durable (an fsync pair): %v", i+2, len(st), st)
				}
			}
			for _, w := range r.writes {
				if w.path != bootstrap.StatusFile && !w.durable {
					t.Errorf("%s written without fsync", w.path)
				}
			}
			if got := h.status().State; got != c.state {
				t.Errorf("status.json says %s, want %s", got, c.state)
			}
		})
	}
	t.Run("reseed", func(t *testing.T) {
		h := newHarness(t, &tmod{name: "host"}, &tmod{name: "zfs"})
		h.seed = &seed.Seed{Version: 1, Host: &seed.Host{Hostname: "pve1"}, ZFS: &seed.ZFS{}}
		if out, err := h.runOnce(); err != nil || out.State != bootstrap.Done {
			t.Fatalf("first run: %+v, %v", out, err)
		}
		h.seed.Host.Hostname = "pve2"
		r := &syncLog{DirRoot: h.root}
		o := h.options()
		o.Root = r
		if out, err := bootstrap.Run(context.Background(), o); err != nil || out.State != bootstrap.Done {
			t.Fatalf("reseed run: %+v, %v", out, err)
		}
		st := r.of(bootstrap.StatusFile)
		if len(st) < 3 || st[0] || st[1] || !st[len(st)-1] {
			t.Errorf("status writes of a run over an existing status.json (true: durable): %v; want the last only", st)
		}
	})
}
