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

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
)

// pass is one container's converge, dry (Check) or not (Apply): the same
// code either way. Reads happen in both; each change is listed through do,
// which runs it only for real; the Store record is updated in memory in
// both and stored only for real.
type pass struct {
	m     *Module
	r     *run
	c     *ct
	cfg   *ctConfig
	rec   record
	found bool
	want  options
	// made is set once the container is created or cloned in this run: a
	// dry run reads it as the create would leave it.
	made       bool
	devChanged bool
	changed    []string
}

// do lists desc as a change and, unless this is a dry run, makes it.
func (x *pass) do(desc string, fn func() error) error {
	x.changed = append(x.changed, desc)
	if x.r.dry {
		return nil
	}
	return fn()
}

func (x *pass) say(msg string) { x.r.say(fmt.Sprintf("%d: %s", x.c.ID, msg)) }

// putRecord stores the record, in Apply only.
func (x *pass) putRecord() error {
	if x.r.dry {
		return nil
	}
	return x.r.env.Store.Put(recordKey(x.c.ID), x.rec)
}

// container converges one container: exists, config, devices, running,
// provisioned, healthy, snapshotted. It returns what it changed (or, dry,
// would change).
func (m *Module) container(ctx context.Context, r *run, c *ct) ([]string, error) {
	x := &pass{m: m, r: r, c: c}
	cfg, err := r.pct.config(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if c.C.External {
		if cfg == nil {
			return nil, errors.New("external container does not exist")
		}
		return nil, nil
	}
	x.cfg = cfg
	if x.found, err = r.env.Store.Get(recordKey(c.ID), &x.rec); err != nil {
		return nil, err
	}
	if x.want, err = m.options(ctx, r, c); err != nil {
		return nil, err
	}
	for _, phase := range []func(context.Context) error{x.exist, x.drift, x.gpus, x.running, x.provision, x.health, x.snapshots} {
		if err := phase(ctx); err != nil {
			return x.changed, err
		}
	}
	return x.changed, nil
}

// exist is phase 1: the container is created, cloned or adopted.
func (x *pass) exist(ctx context.Context) error {
	c := x.c
	switch {
	case x.cfg == nil:
		return x.create(ctx)
	case !x.found:
		if !c.C.Adopt {
			return notOurs(c.ID)
		}
		x.rec = record{State: "adopted"}
		if err := x.do("adopt", x.putRecord); err != nil {
			return err
		}
	case x.rec.State == "creating":
		// Created before a crash that came before the record said so.
		x.rec.State = "created"
		x.rec.Managed = mergeKeys(x.rec.Managed, indexedKeys(x.want))
		if err := x.putRecord(); err != nil {
			return err
		}
	}
	if u := c.C.Unprivileged; u != nil && c.C.CloneFrom == nil {
		if have := x.cfg.Keys["unprivileged"]; boolOpt(*u) != orZero(have) {
			return fmt.Errorf("unprivileged is %s, the seed wants %s: pct cannot change it; recreate the container", orZero(have), boolOpt(*u))
		}
	}
	return nil
}

// create makes the container, from its template or as a clone, with the
// record written first ("creating"), so a crash right after does not leave
// a container Phoenix would refuse as foreign.
func (x *pass) create(ctx context.Context) error {
	c, env, r := x.c, x.r.env, x.r
	x.rec = record{State: "creating"}
	cf := c.C.CloneFrom
	if cf != nil {
		if _, err := env.Store.Get(snapKey(cf.CTID, cf.Snapshot), &x.rec.Inherited); err != nil {
			return err
		}
		// The clone also inherits the source's GPU passthrough: own it,
		// so a clone without gpus loses it.
		var src record
		if _, err := env.Store.Get(recordKey(cf.CTID), &src); err != nil {
			return err
		}
		for _, k := range src.Managed {
			if strings.HasPrefix(k, "dev") {
				x.rec.Managed = append(x.rec.Managed, k)
			}
		}
		x.rec.Raw = src.Raw
	}
	if err := x.putRecord(); err != nil {
		return err
	}
	// A container deleted by hand comes back new: its old steps are not
	// its steps.
	if !r.dry {
		if err := env.Store.Delete(stepsKey(c.ID)); err != nil {
			return err
		}
	}
	x.made = true
	if cf != nil {
		err := x.do(fmt.Sprintf("clone from %d@%s", cf.CTID, cf.Snapshot), func() error {
			x.say(fmt.Sprintf("cloning %d@%s", cf.CTID, cf.Snapshot))
			args := []string{"clone", strconv.Itoa(cf.CTID), strconv.Itoa(c.ID), "--snapname", cf.Snapshot, "--hostname", c.C.Hostname}
			if cf.Full {
				args = append(args, "--full", "1")
			}
			if _, err := r.pct.do(ctx, args...); err != nil {
				return fmt.Errorf("clone: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	} else {
		volid, err := x.m.ensureTemplate(ctx, x, &c.C)
		if err != nil {
			return err
		}
		err = x.do("create "+c.C.Hostname+" from "+volid, func() error {
			x.say("creating from " + volid)
			if _, err := r.pct.do(ctx, createArgs(c, volid, x.want)...); err != nil {
				return fmt.Errorf("create: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	x.rec.State = "created"
	x.rec.Managed = mergeKeys(x.rec.Managed, indexedKeys(x.want))
	if err := x.putRecord(); err != nil {
		return err
	}
	if r.dry {
		return x.dryConfig(ctx)
	}
	cfg, err := r.pct.config(ctx, c.ID)
	if err != nil {
		return err
	}
	if cfg == nil {
		return errors.New("missing right after it was created")
	}
	x.cfg = cfg
	return nil
}

// dryConfig is the config a dry run takes the create or clone to leave:
// the seed's options (a create passes them all); for a clone, its
// source's config when that exists already, under the new host name.
func (x *pass) dryConfig(ctx context.Context) error {
	cfg := &ctConfig{Keys: map[string]string{}}
	if cf := x.c.C.CloneFrom; cf != nil {
		src, err := x.r.pct.config(ctx, cf.CTID)
		if err != nil {
			return err
		}
		if src != nil {
			cfg = &ctConfig{Keys: maps.Clone(src.Keys), Raw: src.Raw}
			cfg.Keys["hostname"] = x.c.C.Hostname
			x.cfg = cfg
			return nil
		}
	}
	for k, v := range x.want {
		if v != "" {
			cfg.Keys[k] = v
		}
	}
	cfg.Keys["unprivileged"] = boolOpt(x.c.C.Unprivileged == nil || *x.c.C.Unprivileged)
	x.cfg = cfg
	return nil
}

// drift is phase 2: config drift, through pct set; the rootfs only grows.
func (x *pass) drift(ctx context.Context) error {
	c, r := x.c, x.r
	if cs := diff(x.want, x.cfg.Keys, x.rec.Managed); len(cs) > 0 {
		x.rec.Managed = mergeKeys(x.rec.Managed, indexedKeys(x.want))
		if err := x.putRecord(); err != nil {
			return err
		}
		if !r.dry {
			x.say("setting " + strings.Join(changeKeys(cs), " "))
			if _, err := r.pct.do(ctx, setArgs(c.ID, cs)...); err != nil {
				return fmt.Errorf("set: %w", err)
			}
		}
		for _, ch := range cs {
			x.changed = append(x.changed, "set "+ch.String())
			x.devChanged = x.devChanged || strings.HasPrefix(ch.Key, "dev")
		}
		x.rec.Managed = indexedKeys(x.want)
		if err := x.putRecord(); err != nil {
			return err
		}
	}
	if rf := c.C.RootFS; rf != nil && rf.Size > 0 && x.cfg.Keys["rootfs"] != "" {
		have, _ := strconv.ParseFloat(strings.TrimSuffix(props(x.cfg.Keys["rootfs"], "volume")["size"], "G"), 64)
		if float64(rf.Size) > have {
			return x.do(fmt.Sprintf("grow rootfs to %dG", rf.Size), func() error {
				if _, err := r.pct.do(ctx, "resize", strconv.Itoa(c.ID), "rootfs", fmt.Sprintf("%dG", rf.Size)); err != nil {
					return fmt.Errorf("resize rootfs: %w", err)
				}
				return nil
			})
		}
	}
	return nil
}

// gpus is phase 3: GPUs as raw lxc.* lines before PVE 8.1 (and their
// removal once the seed drops the GPUs).
func (x *pass) gpus(ctx context.Context) error {
	c, env := x.c, x.r.env
	if len(c.C.GPUs) == 0 && len(x.rec.Raw) == 0 {
		return nil
	}
	lines, err := x.m.rawLines(ctx, x.r, c)
	if err != nil {
		return err
	}
	old := x.rec.Raw
	if all := mergeKeys(old, lines); len(all) != len(old) {
		x.rec.Raw = all // intent first: a crash leaves them known as ours
		if err := x.putRecord(); err != nil {
			return err
		}
	}
	var out []byte
	write := len(lines) > 0 // a dry create: the file is still to be made
	if !(x.r.dry && x.made) {
		if out, write, err = rawConfig(env.Root, c.ID, old, lines); err != nil {
			return fmt.Errorf("gpu lines: %w", err)
		}
	}
	if write {
		var what []string
		for _, l := range lines {
			if !slices.Contains(x.cfg.Raw, l) {
				what = append(what, "add "+l)
			}
		}
		for _, l := range old {
			if !slices.Contains(lines, l) && slices.Contains(x.cfg.Raw, l) {
				what = append(what, "remove "+l)
			}
		}
		if len(what) == 0 {
			what = []string{"move them to the end of the main section"}
		}
		err := x.do("GPU lines in "+confPath(c.ID)+": "+strings.Join(what, "; "), func() error {
			if _, err := host.WriteIfChanged(env.Root, confPath(c.ID), out, 0o640, confOwner); err != nil {
				return fmt.Errorf("gpu lines: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		x.devChanged = true
	}
	if !equalSets(x.rec.Raw, lines) {
		x.rec.Raw = lines
		return x.putRecord()
	}
	return nil
}

// running is phase 4: running, with network and devices.
func (x *pass) running(ctx context.Context) error {
	c, r := x.c, x.r
	st := "stopped" // a dry create: not started yet
	if !(r.dry && x.made) {
		var err error
		if st, err = r.pct.status(ctx, c.ID); err != nil {
			return err
		}
	}
	var err error
	switch {
	case st != "running":
		err = x.do("start", func() error {
			x.say("starting")
			if _, err := r.pct.do(ctx, "start", strconv.Itoa(c.ID)); err != nil {
				return fmt.Errorf("start: %w", err)
			}
			return nil
		})
	case x.devChanged:
		err = x.do("reboot for its devices", func() error {
			x.say("rebooting for its devices")
			if _, err := r.pct.do(ctx, "reboot", strconv.Itoa(c.ID)); err != nil {
				return fmt.Errorf("reboot: %w", err)
			}
			return nil
		})
	}
	if err != nil || r.dry {
		// Waiting is not a change, and a dry run has nothing to wait for.
		return err
	}
	net0 := x.want["net0"]
	if net0 == "" {
		net0 = x.cfg.Keys["net0"]
	}
	return x.m.waitUp(ctx, r, c, net0)
}

// doneSteps are the provisioning steps the container has: none of the
// stored ones when it was made in this run (Apply deleted them).
func (x *pass) doneSteps() (map[string]bool, error) {
	if x.made {
		done := map[string]bool{}
		for _, s := range x.rec.Inherited {
			done[s] = true
		}
		return done, nil
	}
	return doneSteps(x.r.env.Store, x.c.ID, x.rec)
}

// provision is phase 5: provisioning, one recorded step at a time.
func (x *pass) provision(ctx context.Context) error {
	done, err := x.doneSteps()
	if err != nil {
		return err
	}
	for _, s := range x.m.steps(x.r, x.c) {
		if done[s.id] {
			continue
		}
		err := x.do("provision "+s.id, func() error {
			x.say("provisioning " + s.id)
			if err := s.run(ctx); err != nil {
				return fmt.Errorf("provision %s: %w", s.id, err)
			}
			return addStep(x.r.env.Store, x.c.ID, s.id)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// health is phase 6: the seed's health check, in Apply only (it runs a
// command inside).
func (x *pass) health(ctx context.Context) error {
	if hc := x.c.C.HealthCheck; !x.r.dry && hc != nil && len(hc.Command) > 0 {
		return x.m.health(ctx, x.r, x.c.ID, hc)
	}
	return nil
}

// snapshots is phase 7: snapshots, recording the steps each one holds for
// its clones.
func (x *pass) snapshots(ctx context.Context) error {
	c, r := x.c, x.r
	if len(c.C.Snapshots) == 0 {
		return nil
	}
	var have []string
	if !(r.dry && x.made) {
		var err error
		if have, err = r.pct.snapshots(ctx, c.ID); err != nil {
			return err
		}
	}
	for _, s := range c.C.Snapshots {
		if slices.Contains(have, s) {
			continue
		}
		err := x.do("snapshot "+s, func() error {
			done, err := doneSteps(r.env.Store, c.ID, x.rec)
			if err != nil {
				return err
			}
			if err := r.env.Store.Put(snapKey(c.ID, s), slices.Sorted(maps.Keys(done))); err != nil {
				return err
			}
			x.say("snapshot " + s)
			if _, err := r.pct.do(ctx, "snapshot", strconv.Itoa(c.ID), s); err != nil {
				return fmt.Errorf("snapshot %s: %w", s, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// createArgs is pct create with every option of the seed.
func createArgs(c *ct, volid string, want options) []string {
	args := []string{"create", strconv.Itoa(c.ID), volid}
	keys := make([]string, 0, len(want))
	for k, v := range want {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k, want[k])
	}
	if rf := c.C.RootFS; rf != nil && rf.Storage != "" {
		size := rf.Size
		if size == 0 {
			size = 8
		}
		args = append(args, "--rootfs", fmt.Sprintf("%s:%d", rf.Storage, size))
	}
	unpriv := c.C.Unprivileged == nil || *c.C.Unprivileged
	return append(args, "--unprivileged", boolOpt(unpriv))
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func indexedKeys(o options) []string {
	var ks []string
	for k, v := range o {
		if indexed(k) && v != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func mergeKeys(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, k := range b {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func changeKeys(cs []change) []string {
	var ks []string
	for _, c := range cs {
		ks = append(ks, c.Key)
	}
	return ks
}

// waitUp waits, with bounded retries, for the running state, a default
// route inside when net0 has one to get, and the GPU devices.
func (m *Module) waitUp(ctx context.Context, r *run, c *ct, net0 string) error {
	retry := func(what string, ok func() (bool, error)) error {
		for i := 0; ; i++ {
			good, err := ok()
			if err != nil {
				return err
			}
			if good {
				return nil
			}
			if i+1 >= m.tries() {
				return fmt.Errorf("%s: not after %d tries", what, m.tries())
			}
			if err := m.sleep(ctx, m.interval()); err != nil {
				return err
			}
		}
	}
	if err := retry("running", func() (bool, error) {
		st, err := r.pct.status(ctx, c.ID)
		return st == "running", err
	}); err != nil {
		return err
	}
	// Only a container that has a way out gets a default route: DHCP or
	// a gateway.
	if n := props(net0, ""); n["ip"] == "dhcp" || n["gw"] != "" {
		if err := retry("network (default route inside)", func() (bool, error) {
			out, err := r.pct.exec(ctx, c.ID, nil, "ip", "-4", "route", "show", "default")
			return err == nil && strings.HasPrefix(strings.TrimSpace(out), "default"), nil
		}); err != nil {
			return err
		}
	}
	for _, d := range gpuDevices(c.C.GPUs) {
		if err := retry("device "+d+" inside", func() (bool, error) {
			_, err := r.pct.exec(ctx, c.ID, nil, "test", "-e", d)
			return err == nil, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// health runs the seed's health check inside until it passes.
func (m *Module) health(ctx context.Context, r *run, id int, hc *seed.HealthCheck) error {
	tries := hc.Retries
	if tries <= 0 {
		tries = 5
	}
	interval, err := parseInterval(hc.Interval)
	if err != nil {
		return err
	}
	var last error
	for i := 0; i < tries; i++ {
		if i > 0 {
			if err := m.sleep(ctx, interval); err != nil {
				return err
			}
		}
		if _, last = r.pct.exec(ctx, id, nil, hc.Command...); last == nil {
			return nil
		}
	}
	return fmt.Errorf("health check failed %d times: %w", tries, last)
}
