package lxc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// Module seeds the LXC containers of the seed's lxc section.
type Module struct {
	// Sleep waits between retries; tests make it instant. Default: a
	// timer that honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now stamps item timings. Default time.Now.
	Now func() time.Time
	// WaitTries bounds each wait (running state, network, devices).
	// Default 30.
	WaitTries int
	// WaitInterval is the pause between two tries. Default 2s.
	WaitInterval time.Duration
}

var _ modules.Module = (*Module)(nil)
var _ modules.Inputs = (*Module)(nil)

// New returns the module with its defaults.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (m *Module) Name() string { return "lxc" }

// Inputs implements modules.Inputs: mounts follow the zfs section's
// mountpoints and GPU passthrough the nvidia driver, so a change to either
// re-runs lxc.
func (m *Module) Inputs() []string { return []string{"zfs", "nvidia"} }

// Active implements modules.Module.
func (m *Module) Active(s *seed.Seed) bool {
	return s != nil && s.LXC != nil && len(s.LXC.Containers) > 0
}

func (m *Module) sleep(ctx context.Context, d time.Duration) error {
	if m.Sleep != nil {
		return m.Sleep(ctx, d)
	}
	return host.Sleep(ctx, d)
}

func (m *Module) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Module) tries() int {
	if m.WaitTries > 0 {
		return m.WaitTries
	}
	return 30
}

func (m *Module) interval() time.Duration {
	if m.WaitInterval > 0 {
		return m.WaitInterval
	}
	return 2 * time.Second
}

// record is what the Store keeps about a container Phoenix owns, under
// "lxc/<CTID>/record".
type record struct {
	// State is "creating" (written before pct create or clone, so a crash
	// right after does not leave a container Phoenix would refuse as
	// foreign), "created" or "adopted".
	State string `json:"state"`
	// Inherited are the provisioning steps done in the clone source's
	// snapshot: the clone has their results already.
	Inherited []string `json:"inherited,omitempty"`
	// Managed are the netN, mpN and devN keys Phoenix set, so keys the seed
	// drops are deleted and others are left alone.
	Managed []string `json:"managed,omitempty"`
	// Raw are the lxc.* lines Phoenix wrote into the config file.
	Raw []string `json:"raw,omitempty"`
}

func recordKey(id int) string         { return fmt.Sprintf("lxc/%d/record", id) }
func stepsKey(id int) string          { return fmt.Sprintf("lxc/%d/steps", id) }
func snapKey(id int, s string) string { return fmt.Sprintf("lxc/%d/snapshots/%s", id, s) }

// run is the state shared by the containers of one Apply or Check.
type run struct {
	env *modules.Env
	// dry is set for Check: every change is only listed.
	dry     bool
	pct     pct
	tmpl    templates
	verOnce sync.Once
	devKeys bool
	verErr  error
	// mu serialises what reaches the engine (progress lines, item
	// reports): containers run on their own goroutines.
	mu sync.Mutex
}

func (r *run) say(msg string) {
	if r.dry {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env.Say(msg)
}

// report passes an item's state to the engine, in Apply only.
func (r *run) report(it modules.Item) {
	if r.dry {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env.ReportItem(it)
}

// devKeysSupported reports whether pct takes devN keys, asking pveversion
// once per run: pve-container 5.0.7 added them (debian/changelog,
// 2023-11-21, "allow passing raw device nodes through to containers"),
// and PVE 8.1 is the release that shipped it.
func (r *run) devKeysSupported(ctx context.Context) (bool, error) {
	r.verOnce.Do(func() {
		maj, mnr, err := pveVersion(ctx, r.env.Runner)
		r.verErr = err
		r.devKeys = maj > 8 || maj == 8 && mnr >= 1
	})
	return r.devKeys, r.verErr
}

// rawLines are the lxc.* lines c needs: its GPUs on PVE before 8.1.
func (m *Module) rawLines(ctx context.Context, r *run, c *ct) ([]string, error) {
	if len(c.C.GPUs) == 0 {
		return nil, nil
	}
	devKeys, err := r.devKeysSupported(ctx)
	if err != nil || devKeys {
		return nil, err
	}
	return rawGPULines(r.env.Store, c.C.GPUs)
}

func notOurs(id int) error {
	return fmt.Errorf("CT %d exists but was not created by Phoenix; set adopt: true on it to take it over", id)
}

// options is the seed's config for c in pct syntax, with dataset mounts
// resolved to their mountpoints and GPUs as devN keys when PVE has them.
func (m *Module) options(ctx context.Context, r *run, c *ct) (options, error) {
	var mounts []string
	for i, mt := range c.C.Mounts {
		switch {
		case mt.HostPath != "":
			mounts = append(mounts, mt.HostPath)
		case mt.Dataset != "":
			out, err := r.env.Runner.Run(ctx, host.Cmd{Name: ZFSCmd, Args: []string{"get", "-H", "-o", "value", "mountpoint", mt.Dataset}})
			if err != nil {
				return nil, fmt.Errorf("mounts[%d]: dataset %s: %w", i, mt.Dataset, err)
			}
			mp := strings.TrimSpace(string(out.Stdout))
			if !strings.HasPrefix(mp, "/") || !seed.PropertyStringSafe(mp) {
				// A comma or '=' would start another option of mpN.
				return nil, fmt.Errorf("mounts[%d]: dataset %s has mountpoint %q: cannot bind it", i, mt.Dataset, mp)
			}
			mounts = append(mounts, mp)
		default:
			return nil, fmt.Errorf("mounts[%d]: needs dataset or host_path", i)
		}
	}
	devKeys := false
	if len(c.C.GPUs) > 0 {
		var err error
		if devKeys, err = r.devKeysSupported(ctx); err != nil {
			return nil, err
		}
	}
	return desired(&c.C, mounts, devKeys), nil
}

// Converge implements modules.Module: every container through the same
// pass (container.go), dry for Check and for real for Apply, by the same
// scheduler: dependencies first, at most lxc.parallel at a time, a
// failure skipping its dependents. The changes are listed per container
// and sorted, so the order does not depend on completion.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	p, err := newPlan(env.Seed.LXC, env.Select)
	if err != nil {
		return err
	}
	workers := 0
	if env.Seed.LXC != nil {
		workers = env.Seed.LXC.Parallel
	}
	if workers <= 0 {
		workers = 2
	}
	r := &run{env: env, pct: pct{env.Runner}, dry: s.Dry}
	type outcome struct {
		id      int
		changed []string
		err     error
		panic   any
	}
	var (
		changed = map[int][]string{}
		errs    []error
		pending = map[int]int{} // unmet dependencies
		state   = map[int]string{}
		results = make(chan outcome, len(p.order))
		running = 0
		started = map[int]time.Time{}
		ready   []int
	)
	for _, c := range p.order {
		pending[c.ID] = len(c.Deps)
		if len(c.Deps) == 0 {
			ready = append(ready, c.ID)
		}
		state[c.ID] = "pending"
		r.report(modules.Item{Name: strconv.Itoa(c.ID), State: "pending", Detail: c.C.Hostname})
	}
	var skip func(id, cause int)
	skip = func(id, cause int) {
		for _, d := range p.dependents(id) {
			if state[d] != "pending" {
				continue
			}
			state[d] = "skipped"
			r.report(modules.Item{Name: strconv.Itoa(d), State: "skipped", Detail: fmt.Sprintf("dependency %d failed", cause)})
			errs = append(errs, fmt.Errorf("%d: skipped: dependency %d failed", d, cause))
			skip(d, cause)
		}
	}
	left := len(p.order)
	for left > 0 {
		for running < workers && len(ready) > 0 {
			c := p.byID[ready[0]]
			ready = ready[1:]
			running++
			state[c.ID] = "running"
			started[c.ID] = m.now()
			r.report(modules.Item{Name: strconv.Itoa(c.ID), State: "running", Detail: c.C.Hostname, Started: started[c.ID]})
			go func() {
				// A panic (a bug, or the fault harness's simulated crash)
				// goes back to Apply's goroutine, where the engine expects it.
				defer func() {
					if p := recover(); p != nil {
						results <- outcome{id: c.ID, panic: p}
					}
				}()
				changed, err := m.container(ctx, r, c)
				results <- outcome{id: c.ID, changed: changed, err: err}
			}()
		}
		if running == 0 {
			// Everything left was skipped.
			break
		}
		o := <-results
		running--
		left--
		if o.panic != nil {
			for ; running > 0; running-- {
				<-results
			}
			panic(o.panic)
		}
		it := modules.Item{Name: strconv.Itoa(o.id), Started: started[o.id], Finished: m.now(), Detail: p.byID[o.id].C.Hostname}
		if o.err != nil {
			state[o.id] = "failed"
			it.State, it.Detail = "failed", o.err.Error()
			r.report(it)
			errs = append(errs, fmt.Errorf("%d: %w", o.id, o.err))
			skip(o.id, o.id)
			continue
		}
		state[o.id] = "done"
		it.State = "done"
		if len(o.changed) > 0 {
			it.Detail += ": " + strings.Join(o.changed, ", ")
		}
		r.report(it)
		changed[o.id] = o.changed
		for _, d := range p.dependents(o.id) {
			pending[d]--
			if pending[d] == 0 && state[d] == "pending" {
				ready = append(ready, d)
			}
		}
		sort.Ints(ready)
	}
	// By container, in CTID order, each in the order of its pass: the
	// same list whatever the completion order.
	for _, id := range slices.Sorted(maps.Keys(changed)) {
		for _, ch := range changed[id] {
			s.Changes = append(s.Changes, fmt.Sprintf("%d: %s", id, ch))
		}
	}
	if len(errs) > 0 {
		// Completion order varies between runs; the report must not.
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return errors.Join(errs...)
	}
	return nil
}
