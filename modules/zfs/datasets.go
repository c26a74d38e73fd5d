package zfs

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/zfs/prop"
	"github.com/phoenix-pve/phoenix/seed"
)

// Mountpoint is THE host path of a dataset (or pool) named in the seed,
// decided once for every module: the dataset's own mountpoint if the seed
// sets one, else the nearest ancestor's (dataset or pool) with the rest of
// the name appended, else ZFS's default /<pool>/<path>. NFS exports, Samba
// shares, dir storages and LXC mounts all use this path, so no two modules
// can disagree about it. It returns "" for "none" and "legacy".
func Mountpoint(s *seed.Seed, dataset string) string {
	dataset = strings.Trim(dataset, "/")
	explicit := func(name string) string {
		if s == nil || s.ZFS == nil {
			return ""
		}
		for _, d := range s.ZFS.Datasets {
			if strings.Trim(d.Name, "/") == name && d.Mountpoint != "" {
				return d.Mountpoint
			}
		}
		for _, p := range s.ZFS.Pools {
			if p.Name == name && p.Mountpoint != "" {
				return p.Mountpoint
			}
		}
		return ""
	}
	for anc := dataset; anc != "."; anc = path.Dir(anc) {
		if mp := explicit(anc); mp != "" {
			if mp == "none" || mp == "legacy" {
				return ""
			}
			return path.Join(mp, strings.TrimPrefix(strings.TrimPrefix(dataset, anc), "/"))
		}
	}
	return "/" + dataset
}

// DatasetAt returns the seed dataset (or pool) whose Mountpoint holds
// directory p, the deepest one, or "" when none does. The NFS and Samba
// modules use it to notice shares that are not on a seed dataset (the bash
// scripts exported /mnt/pve/... paths no dataset was mounted on).
func DatasetAt(s *seed.Seed, p string) string {
	if s == nil || s.ZFS == nil {
		return ""
	}
	var names []string
	for _, pl := range s.ZFS.Pools {
		names = append(names, pl.Name)
	}
	for _, d := range s.ZFS.Datasets {
		names = append(names, strings.Trim(d.Name, "/"))
	}
	best, bestLen := "", -1
	p = path.Clean(p)
	for _, n := range names {
		mp := Mountpoint(s, n)
		if mp == "" {
			continue
		}
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = n, len(mp)
		}
	}
	return best
}

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
	want := Mountpoint(r.Env.Seed, t.name)
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
	mp := Mountpoint(r.Env.Seed, t.name)
	if mp == "" {
		return fmt.Errorf("dataset %q: owner/mode need a mountpoint", t.name)
	}
	return ApplyOwnerMode(r.Env.Root, mp, t.owner, t.mode, r.Dry, r.Do)
}

// ApplyOwnerMode gives directory p the owner ("user[:group]", names or
// numbers, resolved through the Root's /etc/passwd and /etc/group) and mode
// ("0775"), changing only what differs. do records and performs each
// change, as in the modules' Check/Apply runs. Samba share directories use
// it too.
func ApplyOwnerMode(root host.Root, p, owner, mode string, dry bool, do func(string, func() error) error) error {
	fi, err := root.Stat(p)
	if err != nil {
		if !dry {
			return fmt.Errorf("%s: %w", p, err)
		}
		// Not there yet (the pool or dataset step creates it): both
		// will change.
		if owner != "" {
			_ = do(fmt.Sprintf("chown %s %s", owner, p), nil)
		}
		if mode != "" {
			_ = do(fmt.Sprintf("chmod %s %s", mode, p), nil)
		}
		return nil
	}
	if owner != "" {
		o, err := LookupOwner(root, owner)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if host.FileOwner(fi) != o {
			if err := do(fmt.Sprintf("chown %s %s", owner, p), func() error { return root.Chown(p, o) }); err != nil {
				return err
			}
		}
	}
	if mode != "" {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s: bad mode %q", p, mode)
		}
		fm := fs.FileMode(m).Perm()
		if m&0o4000 != 0 {
			fm |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			fm |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			fm |= fs.ModeSticky
		}
		if fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != fm {
			if err := do(fmt.Sprintf("chmod %s %s", mode, p), func() error { return root.Chmod(p, fm) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// LookupOwner resolves "user[:group]" through the Root's /etc/passwd and
// /etc/group; numbers are taken as they are. Without a group, the user's
// primary group is used.
func LookupOwner(root host.Root, spec string) (host.Owner, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, gid := -1, -1
	if n, err := strconv.Atoi(user); err == nil {
		uid = n
	} else {
		f, err := lookup(root, "/etc/passwd", user)
		if err != nil {
			return host.Owner{}, err
		}
		if uid, err = strconv.Atoi(f[2]); err != nil {
			return host.Owner{}, fmt.Errorf("/etc/passwd: bad uid for %q", user)
		}
		if !hasGroup {
			if gid, err = strconv.Atoi(f[3]); err != nil {
				return host.Owner{}, fmt.Errorf("/etc/passwd: bad gid for %q", user)
			}
		}
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else {
			f, err := lookup(root, "/etc/group", group)
			if err != nil {
				return host.Owner{}, err
			}
			if gid, err = strconv.Atoi(f[2]); err != nil {
				return host.Owner{}, fmt.Errorf("/etc/group: bad gid for %q", group)
			}
		}
	}
	if gid < 0 {
		gid = uid // a numeric user without a group
	}
	return host.Owner{UID: uid, GID: gid}, nil
}

func lookup(root host.Root, file, name string) ([]string, error) {
	b, err := root.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("look up %q: %w", name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("no such %s %q in %s", map[string]string{"/etc/passwd": "user", "/etc/group": "group"}[file], name, file)
}

func itemFor(name, state, detail string) modules.Item {
	return modules.Item{Name: name, State: state, Detail: detail, Finished: time.Now()}
}
