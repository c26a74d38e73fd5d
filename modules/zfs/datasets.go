package zfs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/modules/zfs/prop"
)

// getRow is one line of `zfs get -H -p -o property,value,source`.
type getRow struct{ prop, value, source string }

func parseGet(out string) map[string]getRow {
	m := map[string]getRow{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 {
			m[f[0]] = getRow{f[0], f[1], f[2]}
		}
	}
	return m
}

// wanted is a dataset's seed properties, normalized to -p form.
func wanted(name string, props map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range props {
		if k == "mountpoint" {
			return nil, fmt.Errorf("dataset %q: set mountpoint with the mountpoint key, not in properties", name)
		}
		n, err := prop.Normalize(k, v)
		if err != nil {
			return nil, fmt.Errorf("dataset %q: %w", name, err)
		}
		out[k] = n
	}
	return out, nil
}

// target is one filesystem the module converges: a pool's root dataset or
// a seed dataset.
type target struct {
	name       string
	props      map[string]string
	explicitMP string // the seed's mountpoint, "" when inherited
	owner      string
	mode       string
	create     bool // may be created (datasets, not pool roots)
	external   bool
}

func (r *run) targets() ([]target, error) {
	z := r.Env.Seed.ZFS
	var ts []target
	for _, p := range z.Pools {
		if p.External {
			continue
		}
		props, err := wanted(p.Name, p.Properties)
		if err != nil {
			return nil, err
		}
		ts = append(ts, target{name: p.Name, props: props, explicitMP: p.Mountpoint})
	}
	for _, d := range z.Datasets {
		props, err := wanted(d.Name, d.Properties)
		if err != nil {
			return nil, err
		}
		ts = append(ts, target{name: strings.Trim(d.Name, "/"), props: props, explicitMP: d.Mountpoint,
			owner: d.Owner, mode: d.Mode, create: true, external: d.External})
	}
	// Parents first, so a child's inherited mountpoint is already right.
	sort.SliceStable(ts, func(i, j int) bool { return strings.Count(ts[i].name, "/") < strings.Count(ts[j].name, "/") })
	return ts, nil
}

func (r *run) datasets(ctx context.Context) error {
	ts, err := r.targets()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := r.dataset(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) dataset(ctx context.Context, t target) error {
	keys := append(slices.Sorted(maps.Keys(t.props)), "mountpoint")
	out, err := r.cmd(ctx, ZfsCmd, "get", "-H", "-p", "-o", "property,value,source", strings.Join(keys, ","), t.name)
	if err != nil {
		if !strings.Contains(stderrOf(err), "dataset does not exist") {
			return fmt.Errorf("dataset %q: read properties: %w", t.name, err)
		}
		if t.external {
			return fmt.Errorf("dataset %q: marked external but does not exist", t.name)
		}
		if !t.create {
			if r.Dry {
				return nil // the pool is created first
			}
			return fmt.Errorf("pool %q: root dataset missing after create", t.name)
		}
		args := []string{"create", "-p"}
		for _, k := range slices.Sorted(maps.Keys(t.props)) {
			args = append(args, "-o", k+"="+t.props[k])
		}
		if t.explicitMP != "" {
			args = append(args, "-o", "mountpoint="+t.explicitMP)
		}
		args = append(args, t.name)
		if err := r.Do("create dataset "+t.name, func() error {
			if _, err := r.cmd(ctx, ZfsCmd, args...); err != nil {
				return fmt.Errorf("create dataset %q: %w", t.name, err)
			}
			return nil
		}); err != nil {
			return err
		}
		return r.ownerMode(t)
	}
	if t.external {
		return nil
	}
	live := parseGet(out)
	var set []string
	for _, k := range slices.Sorted(maps.Keys(t.props)) {
		if live[k].value != t.props[k] {
			set = append(set, k+"="+t.props[k])
		}
	}
	want := r.Env.Seed.Mountpoint(t.name)
	mp := live["mountpoint"]
	inherit := false
	switch {
	case t.explicitMP != "" && mp.value != t.explicitMP:
		set = append(set, "mountpoint="+t.explicitMP)
	case t.explicitMP == "" && mp.source == "local":
		// Someone (the bash originals did) pinned a mountpoint the seed
		// does not ask for: go back to the inherited one.
		inherit = true
	case t.explicitMP == "" && want != "" && mp.value != want:
		r.note("dataset %s: mounted at %s, not %s: an ancestor outside the seed sets its mountpoint", t.name, mp.value, want)
	}
	if len(set) > 0 {
		if err := r.Do(fmt.Sprintf("set %s %s", t.name, strings.Join(set, " ")), func() error {
			if _, err := r.cmd(ctx, ZfsCmd, append(append([]string{"set"}, set...), t.name)...); err != nil {
				return fmt.Errorf("dataset %q: set properties: %w", t.name, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if inherit {
		if err := r.Do(fmt.Sprintf("inherit mountpoint of %s (was %s)", t.name, mp.value), func() error {
			if _, err := r.cmd(ctx, ZfsCmd, "inherit", "mountpoint", t.name); err != nil {
				return fmt.Errorf("dataset %q: inherit mountpoint: %w", t.name, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return r.ownerMode(t)
}

// ownerMode gives a dataset's mountpoint directory the seed's owner and
// mode.
func (r *run) ownerMode(t target) error {
	if t.owner == "" && t.mode == "" {
		return nil
	}
	mp := r.Env.Seed.Mountpoint(t.name)
	if mp == "" {
		return fmt.Errorf("dataset %q: owner/mode need a mountpoint", t.name)
	}
	return files.ApplyOwnerMode(r.Env.Root, mp, t.owner, t.mode, r.Dry, r.Do)
}

func itemFor(name, state, detail string) modules.Item {
	return modules.Item{Name: name, State: state, Detail: detail, Finished: time.Now()}
}
