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

	"github.com/phoenix-pve/phoenix/seed"
)

// container converges one container: exists, config, devices, running,
// provisioned, healthy, snapshotted. It returns what it changed.
func (m *Module) container(ctx context.Context, r *run, c *ct) ([]string, error) {
	env := r.env
	say := func(msg string) { r.say(fmt.Sprintf("%d: %s", c.ID, msg)) }
	var changed []string
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
	var rec record
	found, err := env.Store.Get(recordKey(c.ID), &rec)
	if err != nil {
		return nil, err
	}
	want, err := m.options(ctx, r, c)
	if err != nil {
		return nil, err
	}

	// 1. Exists: created, cloned or adopted.
	switch {
	case cfg == nil:
		rec = record{State: "creating"}
		if cf := c.C.CloneFrom; cf != nil {
			if _, err := env.Store.Get(snapKey(cf.CTID, cf.Snapshot), &rec.Inherited); err != nil {
				return nil, err
			}
			// The clone also inherits the source's GPU passthrough: own
			// it, so a clone without gpus loses it.
			var src record
			if _, err := env.Store.Get(recordKey(cf.CTID), &src); err != nil {
				return nil, err
			}
			for _, k := range src.Managed {
				if strings.HasPrefix(k, "dev") {
					rec.Managed = append(rec.Managed, k)
				}
			}
			rec.Raw = src.Raw
		}
		if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
			return nil, err
		}
		// A container deleted by hand comes back new: its old steps are
		// not its steps.
		if err := env.Store.Delete(stepsKey(c.ID)); err != nil {
			return nil, err
		}
		if cf := c.C.CloneFrom; cf != nil {
			say(fmt.Sprintf("cloning %d@%s", cf.CTID, cf.Snapshot))
			args := []string{"clone", strconv.Itoa(cf.CTID), strconv.Itoa(c.ID), "--snapname", cf.Snapshot, "--hostname", c.C.Hostname}
			if cf.Full {
				args = append(args, "--full", "1")
			}
			if _, err := r.pct.do(ctx, args...); err != nil {
				return nil, fmt.Errorf("clone: %w", err)
			}
			changed = append(changed, fmt.Sprintf("cloned from %d@%s", cf.CTID, cf.Snapshot))
		} else {
			volid, fetched, err := m.ensureTemplate(ctx, env, &r.tmpl, &c.C)
			if err != nil {
				return nil, err
			}
			if fetched {
				changed = append(changed, "template "+volid)
			}
			say("creating from " + volid)
			if _, err := r.pct.do(ctx, createArgs(c, volid, want)...); err != nil {
				return nil, fmt.Errorf("create: %w", err)
			}
			changed = append(changed, "created")
		}
		rec.State = "created"
		rec.Managed = mergeKeys(rec.Managed, indexedKeys(want))
		if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
			return nil, err
		}
		if cfg, err = r.pct.config(ctx, c.ID); err != nil {
			return nil, err
		}
		if cfg == nil {
			return nil, errors.New("missing right after it was created")
		}
	case !found:
		if !c.C.Adopt {
			return nil, notOurs(c.ID)
		}
		rec = record{State: "adopted"}
		if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
			return nil, err
		}
		changed = append(changed, "adopted")
	case rec.State == "creating":
		// Created before a crash that came before the record said so.
		rec.State = "created"
		rec.Managed = mergeKeys(rec.Managed, indexedKeys(want))
		if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
			return nil, err
		}
	}
	if u := c.C.Unprivileged; u != nil && c.C.CloneFrom == nil {
		if have := cfg.Keys["unprivileged"]; boolOpt(*u) != orZero(have) {
			return changed, fmt.Errorf("unprivileged is %s, the seed wants %s: pct cannot change it; recreate the container", orZero(have), boolOpt(*u))
		}
	}

	// 2. Config drift, through pct set; the rootfs only grows.
	devChanged := false
	if cs := diff(want, cfg.Keys, rec.Managed); len(cs) > 0 {
		rec.Managed = mergeKeys(rec.Managed, indexedKeys(want))
		if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
			return changed, err
		}
		say("setting " + strings.Join(changeKeys(cs), " "))
		if _, err := r.pct.do(ctx, setArgs(c.ID, cs)...); err != nil {
			return changed, fmt.Errorf("set: %w", err)
		}
		for _, ch := range cs {
			changed = append(changed, "set "+ch.String())
			devChanged = devChanged || strings.HasPrefix(ch.Key, "dev")
		}
		rec.Managed = indexedKeys(want)
		if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
			return changed, err
		}
	}
	if rf := c.C.RootFS; rf != nil && rf.Size > 0 && cfg.Keys["rootfs"] != "" {
		have, _ := strconv.ParseFloat(strings.TrimSuffix(props(cfg.Keys["rootfs"], "volume")["size"], "G"), 64)
		if float64(rf.Size) > have {
			if _, err := r.pct.do(ctx, "resize", strconv.Itoa(c.ID), "rootfs", fmt.Sprintf("%dG", rf.Size)); err != nil {
				return changed, fmt.Errorf("resize rootfs: %w", err)
			}
			changed = append(changed, fmt.Sprintf("rootfs grown to %dG", rf.Size))
		}
	}

	// 3. GPUs as raw lxc.* lines before PVE 8.1 (and their removal once
	// the seed drops the GPUs).
	if len(c.C.GPUs) > 0 || len(rec.Raw) > 0 {
		lines, err := m.rawLines(ctx, r, c)
		if err != nil {
			return changed, err
		}
		old := rec.Raw
		if all := mergeKeys(old, lines); len(all) != len(old) {
			rec.Raw = all // intent first: a crash leaves them known as ours
			if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
				return changed, err
			}
		}
		wrote, err := setRawLines(env.Root, c.ID, old, lines)
		if err != nil {
			return changed, fmt.Errorf("gpu lines: %w", err)
		}
		if !equalSets(rec.Raw, lines) {
			rec.Raw = lines
			if err := env.Store.Put(recordKey(c.ID), rec); err != nil {
				return changed, err
			}
		}
		if wrote {
			changed = append(changed, "gpu config lines")
			devChanged = true
		}
	}

	// 4. Running, with network and devices.
	st, err := r.pct.status(ctx, c.ID)
	if err != nil {
		return changed, err
	}
	switch {
	case st != "running":
		say("starting")
		if _, err := r.pct.do(ctx, "start", strconv.Itoa(c.ID)); err != nil {
			return changed, fmt.Errorf("start: %w", err)
		}
		changed = append(changed, "started")
	case devChanged:
		say("rebooting for its devices")
		if _, err := r.pct.do(ctx, "reboot", strconv.Itoa(c.ID)); err != nil {
			return changed, fmt.Errorf("reboot: %w", err)
		}
		changed = append(changed, "rebooted")
	}
	net0 := want["net0"]
	if net0 == "" {
		net0 = cfg.Keys["net0"]
	}
	if err := m.waitUp(ctx, r, c, net0); err != nil {
		return changed, err
	}

	// 5. Provisioning, one recorded step at a time.
	done, err := doneSteps(env.Store, c.ID, rec)
	if err != nil {
		return changed, err
	}
	for _, s := range m.steps(r, c) {
		if done[s.id] {
			continue
		}
		say("provisioning " + s.id)
		if err := s.run(ctx); err != nil {
			return changed, fmt.Errorf("provision %s: %w", s.id, err)
		}
		if err := addStep(env.Store, c.ID, s.id); err != nil {
			return changed, err
		}
		changed = append(changed, "provisioned "+s.id)
	}

	// 6. Health.
	if hc := c.C.HealthCheck; hc != nil && len(hc.Command) > 0 {
		if err := m.health(ctx, r, c.ID, hc); err != nil {
			return changed, err
		}
	}

	// 7. Snapshots, recording the steps each one holds for its clones.
	if len(c.C.Snapshots) > 0 {
		have, err := r.pct.snapshots(ctx, c.ID)
		if err != nil {
			return changed, err
		}
		for _, s := range c.C.Snapshots {
			if slices.Contains(have, s) {
				continue
			}
			done, err := doneSteps(env.Store, c.ID, rec)
			if err != nil {
				return changed, err
			}
			if err := env.Store.Put(snapKey(c.ID, s), slices.Sorted(maps.Keys(done))); err != nil {
				return changed, err
			}
			say("snapshot " + s)
			if _, err := r.pct.do(ctx, "snapshot", strconv.Itoa(c.ID), s); err != nil {
				return changed, fmt.Errorf("snapshot %s: %w", s, err)
			}
			changed = append(changed, "snapshot "+s)
		}
	}
	return changed, nil
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
