package zfs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
)

// vdev is one top-level data vdev: Type "disk", "mirror" or "raidzN";
// Disks as zpool printed them or, after normalizing, whole-disk names.
type vdev struct {
	Type  string
	Disks []string
}

// poolInfo is one pool of `zpool status` or of the `zpool import` listing.
type poolInfo struct {
	Name  string
	VDevs []vdev
	Aux   []string // log, cache, spare, special, dedup devices
	// Nested are the devices below a replacing-N or spare-N vdev inside a
	// top-level vdev (a disk being replaced, its replacement, a hot spare
	// in use): members too, not part of the layout.
	Nested  []string
	Foreign bool // "last accessed by another system": import needs -f
}

func (p poolInfo) allDisks() []string {
	var d []string
	for _, v := range p.VDevs {
		d = append(d, v.Disks...)
	}
	d = append(d, p.Nested...)
	return append(d, p.Aux...)
}

var auxSections = map[string]bool{"logs": true, "cache": true, "spares": true, "special": true, "dedup": true}

// parsePools parses the human output of `zpool status` and of the `zpool
// import` listing: "pool:" starts a pool, the config block is indented with
// a tab and two spaces per level.
func parsePools(out string) []poolInfo {
	var pools []poolInfo
	var cur *poolInfo
	inConfig, started, aux := false, false, false
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if k, v, ok := strings.Cut(t, ":"); ok && !strings.HasPrefix(line, "\t") {
			switch k {
			case "pool":
				pools = append(pools, poolInfo{Name: strings.TrimSpace(v)})
				cur = &pools[len(pools)-1]
				inConfig, started, aux = false, false, false
				continue
			case "config":
				inConfig, started = true, false
				continue
			case "status":
				if cur != nil && strings.Contains(v, "another system") {
					cur.Foreign = true
				}
			case "errors":
				inConfig = false
			}
		}
		if cur == nil || !inConfig {
			continue
		}
		if t == "" {
			if started {
				inConfig = false
			}
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			continue
		}
		body := strings.TrimPrefix(line, "\t")
		depth := (len(body) - len(strings.TrimLeft(body, " "))) / 2
		f := strings.Fields(body)
		if f[0] == "NAME" {
			continue
		}
		started = true
		name := f[0]
		switch {
		case depth == 0:
			// The pool itself, or a "logs"/"cache"/"spares" section at the
			// same indentation.
			aux = auxSections[name]
		case aux:
			if vdevType(name) == "" {
				cur.Aux = append(cur.Aux, name)
			}
		case depth == 1 && vdevType(name) != "":
			cur.VDevs = append(cur.VDevs, vdev{Type: vdevType(name)})
		case depth == 1:
			cur.VDevs = append(cur.VDevs, vdev{Type: "disk", Disks: []string{name}})
		case len(cur.VDevs) == 0:
		case vdevType(name) != "":
			// replacing-N, spare-N (OpenZFS tests nest them up to
			// mirror-0/spare-0/replacing-0: add_nested_replacing_spare.ksh)
			// and draid distributed spares (draidP-G-S, vdev_draid.c) are
			// no disks; their children are.
		case depth == 2:
			v := &cur.VDevs[len(cur.VDevs)-1]
			v.Disks = append(v.Disks, name)
		default:
			// Deeper: a leaf under a nested vdev. zpool_main.c
			// print_status_config indents each level two more.
			cur.Nested = append(cur.Nested, name)
		}
	}
	return pools
}

// vdevType maps "mirror-0", "raidz2-1" to the vdev type; "" for a device.
func vdevType(name string) string {
	base := name
	if i := strings.LastIndexByte(name, '-'); i > 0 && strings.Trim(name[i+1:], "0123456789") == "" {
		base = name[:i]
	}
	switch base {
	case "mirror", "raidz1", "raidz2", "raidz3", "draid", "replacing", "spare":
		return base
	case "raidz":
		return "raidz1"
	}
	if strings.HasPrefix(base, "draid") {
		return "draid"
	}
	return ""
}

// expected is the seed's layout of p, with disks as device paths. The
// layout rules are the seed's (seed.Pool.LayoutErr, what `phoenix
// validate` enforces); this only maps them to vdevs.
func expected(p *seed.Pool) ([]vdev, error) {
	if err := p.LayoutErr(); err != nil {
		return nil, fmt.Errorf("pool %q: %w", p.Name, err)
	}
	paths := func(ds []string) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = diskPath(d)
		}
		return out
	}
	switch p.Layout {
	case "single":
		return []vdev{{Type: "disk", Disks: paths(p.Disks)}}, nil
	case "stripe":
		out := make([]vdev, 0, len(p.VDevs))
		for _, v := range p.VDevs {
			out = append(out, vdev{Type: v.Type, Disks: paths(v.Disks)})
		}
		return out, nil
	}
	return []vdev{{Type: p.Layout, Disks: paths(p.Disks)}}, nil
}

// shape renders a layout with whole-disk names, order-independent, for
// comparing a live pool with the seed.
func shape(vs []vdev, norm func(string) string) string {
	var parts []string
	for _, v := range vs {
		ds := make([]string, len(v.Disks))
		for i, d := range v.Disks {
			ds[i] = norm(d)
		}
		sort.Strings(ds)
		parts = append(parts, v.Type+"("+strings.Join(ds, " ")+")")
	}
	sort.Strings(parts)
	return strings.Join(parts, " + ")
}

// poolDefaults are Phoenix's `zpool create` defaults; the seed's options
// and properties override them.
var (
	poolOptionDefaults = [][2]string{{"autotrim", "on"}}
	poolFSDefaults     = [][2]string{{"compression", "lz4"}, {"atime", "off"}, {"xattr", "sa"}, {"acltype", "posixacl"}}
)

// createArgs is the argv of `zpool create` for p.
func createArgs(p *seed.Pool, vs []vdev) []string {
	ashift := p.Ashift
	if ashift == 0 {
		ashift = 12
	}
	args := []string{"create", "-o", fmt.Sprintf("ashift=%d", ashift)}
	args = append(args, merged(poolOptionDefaults, p.Options, "-o", "ashift")...)
	args = append(args, merged(poolFSDefaults, p.Properties, "-O", "mountpoint")...)
	if p.Mountpoint != "" {
		args = append(args, "-O", "mountpoint="+p.Mountpoint)
	}
	args = append(args, p.Name)
	for _, v := range vs {
		if v.Type != "disk" {
			args = append(args, v.Type)
		}
		args = append(args, v.Disks...)
	}
	return args
}

// merged renders defaults overridden by the seed's map, then the map's
// other keys sorted, as repeated flag k=v; skip is handled elsewhere.
func merged(defs [][2]string, m map[string]string, flag, skip string) []string {
	var out []string
	done := map[string]bool{skip: true}
	for _, d := range defs {
		v := d[1]
		if s, ok := m[d[0]]; ok {
			v = s
		}
		out = append(out, flag, d[0]+"="+v)
		done[d[0]] = true
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !done[k] {
			out = append(out, flag, k+"="+m[k])
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

// listPools returns the imported pools (zpool status -P -L) and the pools
// the import listing offers.
func (r *run) listPools(ctx context.Context) (imported, exported []poolInfo, err error) {
	out, err := r.cmd(ctx, ZpoolCmd, "status", "-P", "-L")
	if err != nil {
		return nil, nil, fmt.Errorf("read pools: %w", err)
	}
	imported = parsePools(out)
	out, err = r.cmd(ctx, ZpoolCmd, "import", "-d", ByIDDir)
	if err != nil {
		// With nothing to import zpool prints "no pools available to
		// import" on stderr and exits 0 (openzfs zpool_main.c:4115-4118,
		// 4703); older releases and other errors exit 1, so both are
		// handled.
		if !strings.Contains(out+stderrOf(err), "no pools available") {
			return nil, nil, fmt.Errorf("list importable pools: %w", err)
		}
		out = ""
	}
	return imported, parsePools(out), nil
}

// pool creates, adopts or imports one pool.
func (r *run) pool(ctx context.Context, p *seed.Pool) error {
	imported, exported, err := r.listPools(ctx)
	if err != nil {
		return err
	}
	find := func(ps []poolInfo) []poolInfo {
		var out []poolInfo
		for _, x := range ps {
			if x.Name == p.Name {
				out = append(out, x)
			}
		}
		return out
	}
	live := find(imported)
	if p.External {
		if len(live) == 0 {
			return fmt.Errorf("pool %q: marked external but not imported", p.Name)
		}
		return nil
	}
	started, err := r.creating(p.Name)
	if err != nil {
		return err
	}
	want, err := expected(p)
	if err != nil {
		return err
	}
	st, err := r.readDisks(ctx, imported, exported)
	if err != nil {
		return err
	}
	norm := func(d string) string { return r.wholeDisk(st, d) }
	if len(live) > 0 {
		if err := r.compareLayout(p, "imported", live[0], want, norm); err != nil {
			return err
		}
		if err := r.createdTail(ctx, p, started); err != nil {
			return err
		}
		r.report(itemFor(p.Name, "done", "adopted"))
		return r.poolOptions(ctx, p)
	}
	if cands := find(exported); len(cands) > 0 {
		if len(cands) > 1 {
			return fmt.Errorf("pool %q: zpool import lists %d pools of that name; import the right one by id by hand", p.Name, len(cands))
		}
		if err := r.compareLayout(p, "exported", cands[0], want, norm); err != nil {
			return err
		}
		args := []string{"import", "-d", ByIDDir}
		if cands[0].Foreign {
			// Last used by another host id: after a reinstall that is this
			// machine's previous system, and the layout matched the seed.
			args = append(args, "-f")
		}
		if err := r.Do(fmt.Sprintf("import pool %s", p.Name), func() error {
			if _, err := r.cmd(ctx, ZpoolCmd, append(args, p.Name)...); err != nil {
				return fmt.Errorf("import pool %q: %w", p.Name, err)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := r.createdTail(ctx, p, started); err != nil {
			return err
		}
		r.report(itemFor(p.Name, "done", "imported"))
		if r.Dry {
			return nil
		}
		return r.poolOptions(ctx, p)
	}
	// A new pool: every disk must pass the safety gate first.
	var all []string
	for _, v := range want {
		all = append(all, v.Disks...)
	}
	// A create of this pool on these very disks that a crash cut short
	// left its partitions behind: the gate passed them then, so what
	// zpool itself wrote there may go again.
	// The disks are device paths already (expected); sorted, they are a
	// creation's identity.
	ids := slices.Sorted(slices.Values(all))
	resume := started != nil && slices.Equal(started.Disks, ids)
	devs, err := r.checkDisks(st, p.Name, all, p.Wipe, resume)
	if err != nil {
		r.report(itemFor(p.Name, "failed", "unsafe disks"))
		return err
	}
	if resume {
		r.note("pool %s: the create started %s did not finish; creating the pool again", p.Name, started.Started.Format(time.RFC3339))
	}
	if p.Wipe || resume {
		wiped := false
		for i, d := range devs {
			if len(d.Children) > 0 || d.fstype() != "" {
				if !wiped && resume && !p.Wipe {
					r.note("pool %s: erasing what the interrupted create left on its disks (zpool's partitions 1 and 9)", p.Name)
				}
				wiped = true
				if err := r.wipe(ctx, p.Name, all[i], d); err != nil {
					return err
				}
			}
		}
		if wiped && !r.Dry {
			if _, err := r.cmd(ctx, UdevadmCmd, "settle"); err != nil {
				return fmt.Errorf("pool %q: udevadm settle: %w", p.Name, err)
			}
		}
	}
	args := createArgs(p, want)
	return r.Do(fmt.Sprintf("create pool %s (%s)", p.Name, shape(want, func(d string) string { return strings.TrimPrefix(d, ByIDDir+"/") })), func() error {
		rec := creation{Disks: ids, Started: time.Now().UTC(), BootID: r.Env.BootID}
		if err := r.setCreating(p.Name, &rec); err != nil {
			return err
		}
		// Never -f: if anything is left on a disk, zpool refuses too.
		if _, err := r.cmd(ctx, ZpoolCmd, args...); err != nil {
			return fmt.Errorf("create pool %q: %w", p.Name, err)
		}
		if err := r.finishCreate(ctx, p); err != nil {
			return err
		}
		r.report(itemFor(p.Name, "done", "created"))
		return nil
	})
}

// creatingKey is the Store record of the pools whose `zpool create` has
// started and whose creation is not complete (the import unit enabled):
// pool name -> creation.
const creatingKey = "zfs/creating"

// creation is one started `zpool create`: the disks the safety gate
// passed for it (seed paths, sorted), when, and in which boot.
type creation struct {
	Disks   []string  `json:"disks"`
	Started time.Time `json:"started"`
	BootID  string    `json:"boot_id,omitempty"`
}

// creating returns the record of a started create of pool, or nil.
func (r *run) creating(pool string) (*creation, error) {
	var recs map[string]*creation
	if _, err := r.Env.Store.Get(creatingKey, &recs); err != nil {
		return nil, fmt.Errorf("pool %q: %w", pool, err)
	}
	return recs[pool], nil
}

// setCreating records (rec != nil) or forgets a started create of pool.
func (r *run) setCreating(pool string, rec *creation) error {
	recs := map[string]*creation{}
	if _, err := r.Env.Store.Get(creatingKey, &recs); err != nil {
		return fmt.Errorf("pool %q: %w", pool, err)
	}
	if rec == nil {
		if _, ok := recs[pool]; !ok {
			return nil
		}
		delete(recs, pool)
	} else {
		recs[pool] = rec
	}
	var err error
	if len(recs) == 0 {
		err = r.Env.Store.Delete(creatingKey)
	} else {
		err = r.Env.Store.Put(creatingKey, recs)
	}
	if err != nil {
		return fmt.Errorf("pool %q: %w", pool, err)
	}
	return nil
}

// createdTail finishes a create a crash cut short after `zpool create`
// itself had returned (the record is still there: rec != nil).
func (r *run) createdTail(ctx context.Context, p *seed.Pool, rec *creation) error {
	if rec == nil {
		return nil
	}
	return r.Do(fmt.Sprintf("finish the creation of pool %s", p.Name), func() error { return r.finishCreate(ctx, p) })
}

// finishCreate is what follows `zpool create` of a pool Phoenix made. As
// Proxmox does for the pools it creates (pve-storage
// src/PVE/API2/Disks/ZFS.pm:511-516), the pool is imported at boot by
// name, not only through zpool.cache. Then the record of the started
// create goes.
func (r *run) finishCreate(ctx context.Context, p *seed.Pool) error {
	if host.Exists(r.Env.Root, ImportUnitTemplate) {
		unit := "zfs-import@" + escapeUnit(p.Name) + ".service"
		if _, err := r.cmd(ctx, SystemctlCmd, "enable", unit); err != nil {
			return fmt.Errorf("pool %q: enable %s: %w", p.Name, unit, err)
		}
	}
	return r.setCreating(p.Name, nil)
}

// escapeUnit escapes a unit instance name as systemd-escape does (and
// PVE::Systemd::escape_unit): "/" becomes "-", and every byte outside
// [A-Za-z0-9:_.] (and a leading ".") becomes \xHH.
func escapeUnit(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}

// compareLayout checks a live pool against the seed. A different data
// layout is an error (the pool is never recreated); extra log, cache or
// spare devices are a note.
func (r *run) compareLayout(p *seed.Pool, what string, live poolInfo, want []vdev, norm func(string) string) error {
	have, seedShape := shape(live.VDevs, norm), shape(want, norm)
	if have != seedShape {
		return fmt.Errorf("pool %q: the %s pool's layout %s differs from the seed's %s; Phoenix never recreates a pool: fix the seed or mark the pool external", p.Name, what, have, seedShape)
	}
	if len(live.Aux) > 0 {
		r.note("pool %s: has log/cache/spare/special devices not in the seed (kept): %s", p.Name, strings.Join(live.Aux, " "))
	}
	return nil
}

// poolOptions converges the seed's pool properties (-o) on a live pool.
// ashift cannot change after creation: a difference is a note.
func (r *run) poolOptions(ctx context.Context, p *seed.Pool) error {
	want := map[string]string{}
	for _, d := range poolOptionDefaults {
		want[d[0]] = d[1]
	}
	for k, v := range p.Options {
		want[k] = v
	}
	keys := slices.Sorted(maps.Keys(want))
	if p.Ashift != 0 {
		keys = append(keys, "ashift")
	}
	out, err := r.cmd(ctx, ZpoolCmd, "get", "-H", "-p", "-o", "property,value,source", strings.Join(keys, ","), p.Name)
	if err != nil {
		return fmt.Errorf("pool %q: read properties: %w", p.Name, err)
	}
	rows := parseGet(out)
	for _, k := range keys {
		pv, ok := rows[k]
		if !ok {
			return fmt.Errorf("pool %q: zpool get printed no %s", p.Name, k)
		}
		if k == "ashift" {
			if pv.value != fmt.Sprint(p.Ashift) {
				r.note("pool %s: ashift is %s, the seed says %d; ashift is fixed at creation (kept)", p.Name, pv.value, p.Ashift)
			}
			continue
		}
		if w := want[k]; pv.value != w {
			if err := r.Do(fmt.Sprintf("set pool %s %s=%s (was %s)", p.Name, k, w, pv.value), func() error {
				if _, err := r.cmd(ctx, ZpoolCmd, "set", k+"="+w, p.Name); err != nil {
					return fmt.Errorf("pool %q: set %s: %w", p.Name, k, err)
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
