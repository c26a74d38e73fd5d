package seed

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// ZFS is pools, datasets and the Proxmox storages on them.
type ZFS struct {
	ARCMax   string    `yaml:"arc_max,omitempty" json:"arc_max,omitempty"` // e.g. 32G
	Pools    []Pool    `yaml:"pools,omitempty" json:"pools,omitempty"`
	Datasets []Dataset `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	Storages []Storage `yaml:"storages,omitempty" json:"storages,omitempty"`
}

// Pool is one zpool. Layout single/mirror/raidzN uses Disks; layout stripe
// uses VDevs, each a mirror or raidz group.
type Pool struct {
	Name       string            `yaml:"name" json:"name"`
	Layout     string            `yaml:"layout,omitempty" json:"layout,omitempty"` // single, mirror, raidz1, raidz2, raidz3, stripe
	Disks      []string          `yaml:"disks,omitempty" json:"disks,omitempty"`
	VDevs      []VDev            `yaml:"vdevs,omitempty" json:"vdevs,omitempty"`
	Ashift     int               `yaml:"ashift,omitempty" json:"ashift,omitempty"`
	Options    map[string]string `yaml:"options,omitempty" json:"options,omitempty"`       // zpool -o
	Properties map[string]string `yaml:"properties,omitempty" json:"properties,omitempty"` // zpool -O (root filesystem)
	Mountpoint string            `yaml:"mountpoint,omitempty" json:"mountpoint,omitempty"`
	Wipe       bool              `yaml:"wipe,omitempty" json:"wipe,omitempty"`
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"` // exists already; never created
}

// VDev is one top-level vdev of a striped pool.
type VDev struct {
	Type  string   `yaml:"type" json:"type"` // mirror, raidz1, raidz2, raidz3
	Disks []string `yaml:"disks" json:"disks"`
}

// Dataset is one ZFS filesystem. Its pool is the first path element of Name.
type Dataset struct {
	Name       string            `yaml:"name" json:"name"`
	Properties map[string]string `yaml:"properties,omitempty" json:"properties,omitempty"`
	Mountpoint string            `yaml:"mountpoint,omitempty" json:"mountpoint,omitempty"`
	Owner      string            `yaml:"owner,omitempty" json:"owner,omitempty"` // user[:group] of the mountpoint
	Mode       string            `yaml:"mode,omitempty" json:"mode,omitempty"`   // e.g. "0775"
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"`
}

// Storage is one Proxmox storage (pvesm) on a dataset.
type Storage struct {
	ID       string   `yaml:"id" json:"id"`
	Type     string   `yaml:"type" json:"type"` // zfspool or dir
	Dataset  string   `yaml:"dataset" json:"dataset"`
	Content  []string `yaml:"content" json:"content"`
	Sparse   *bool    `yaml:"sparse,omitempty" json:"sparse,omitempty"` // zfspool; default true
	External bool     `yaml:"external,omitempty" json:"external,omitempty"`
}

var reservedPools = map[string]bool{"mirror": true, "raidz": true, "raidz1": true, "raidz2": true, "raidz3": true, "draid": true, "spare": true, "log": true, "cache": true, "special": true, "dedup": true}

// minDisks is the smallest disk count of each layout and vdev type.
var minDisks = map[string]int{"single": 1, "mirror": 2, "raidz1": 3, "raidz2": 4, "raidz3": 5}

// check holds the zfs section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (z *ZFS) check(c *checker) {
	if z.ARCMax != "" && !reSize.match(z.ARCMax) {
		c.errf("zfs.arc_max", "%q is not a size: a whole number with an optional unit K, M, G or T (e.g. 32G)", z.ARCMax)
	}
	pools := z.checkPools(c)
	datasets := z.checkDatasets(c, pools)
	z.checkStorages(c, pools, datasets)
}

// checkPools holds zfs.pools to their rules and returns them by name.
func (z *ZFS) checkPools(c *checker) map[string]*Pool {
	pools := map[string]*Pool{}
	disks := dups{}
	for i := range z.Pools {
		p := &z.Pools[i]
		pp := index("zfs.pools", i)
		if c.required(pp+".name", p.Name) {
			switch {
			case !rePool.match(p.Name):
				c.errf(pp+".name", "%q is not a pool name (a letter, then letters, digits, _ . : -)", p.Name)
			case reservedPools[p.Name] || len(p.Name) > 1 && p.Name[0] == 'c' && p.Name[1] >= '0' && p.Name[1] <= '9':
				c.errf(pp+".name", "%q is reserved by ZFS", p.Name)
			}
			if _, dup := pools[p.Name]; dup {
				c.errf(pp+".name", "duplicate pool %q", p.Name)
			}
			pools[p.Name] = p
		}
		c.zprops(pp+".options", p.Options)
		if _, ok := p.Options["altroot"]; ok {
			// zpool create -o altroot=DIR puts DIR before every
			// mountpoint in the pool (zpoolprops(7)), which the mountpoint
			// checks here would not see.
			c.errf(join(pp+".options", "altroot"), "altroot moves every mountpoint of the pool below it: leave it out and set mountpoint")
		}
		c.zprops(pp+".properties", p.Properties)
		c.mountpoint(pp, p.Mountpoint, p.Properties)
		if p.Mountpoint == "" && !p.External && p.Name != "" && HidesSystemDir("/"+p.Name) {
			// ZFS mounts a new pool at /NAME (zfsprops(7) mountpoint).
			c.errf(pp+".name", "pool %q would mount at /%s (ZFS's default /NAME) and hide %s: set mountpoint (e.g. /srv/%s) or name it otherwise", p.Name, p.Name, hiddenDir("/"+p.Name), p.Name)
		}
		if p.External {
			for _, k := range []string{"layout", "disks", "vdevs", "ashift", "options", "wipe"} {
				if c.has(pp + "." + k) {
					c.errf(pp+"."+k, "an external pool exists already and is never created: remove %s", k)
				}
			}
			continue
		}
		c.intRange(pp+".ashift", p.Ashift, 9, 16, "")
		c.diskList(pp+".disks", p.Disks, disks, p.Name)
		for j, v := range p.VDevs {
			c.diskList(index(pp+".vdevs", j)+".disks", v.Disks, disks, p.Name)
		}
		poolLayout(p, func(rel, format string, args ...any) { c.errf(pp+"."+rel, format, args...) },
			func(rel string) { c.required(pp+"."+rel, "") })
	}
	return pools
}

// checkDatasets holds zfs.datasets to their rules (each on a declared
// pool) and returns them by name.
func (z *ZFS) checkDatasets(c *checker, pools map[string]*Pool) map[string]*Dataset {
	datasets := map[string]*Dataset{}
	mounts := dups{}
	inherited := mountpoints(z)
	for i := range z.Datasets {
		d := &z.Datasets[i]
		dp := index("zfs.datasets", i)
		if c.required(dp+".name", d.Name) {
			parts := strings.Split(d.Name, "/")
			switch {
			case len(parts) < 2:
				c.errf(dp+".name", "%q is a pool, not a dataset: name datasets POOL/NAME (set pool-wide values in the pool's properties)", d.Name)
			case slices.ContainsFunc(parts, func(s string) bool { return !reDSPart.match(s) }):
				c.errf(dp+".name", "%q is not a dataset name (POOL/NAME, letters, digits, _ . : -)", d.Name)
			case slices.Contains(parts, ".") || slices.Contains(parts, ".."):
				// OpenZFS module/zcommon/zfs_namecheck.c entity_namecheck:
				// NAME_ERR_SELF_REF and NAME_ERR_PARENT_REF.
				c.errf(dp+".name", "%q has a . or .. element: ZFS refuses it (and its default mountpoint would leave the pool's)", d.Name)
			case len(d.Name) >= 256:
				// entity_namecheck: strlen >= ZFS_MAX_DATASET_NAME_LEN (256).
				c.errf(dp+".name", "%q is %d characters: ZFS takes at most 255", d.Name, len(d.Name))
			case pools[parts[0]] == nil:
				c.errf(dp+".name", "pool %q is not declared in zfs.pools (declare it with external: true if it exists already)", parts[0])
			}
			if _, dup := datasets[d.Name]; dup {
				c.errf(dp+".name", "duplicate dataset %q", d.Name)
			}
			datasets[d.Name] = d
		}
		c.zprops(dp+".properties", d.Properties)
		c.mountpoint(dp, d.Mountpoint, d.Properties)
		if d.Mountpoint != "" && d.Mountpoint != "none" && d.Mountpoint != "legacy" {
			mounts.seen(c, dp+".mountpoint", cleanKey(d.Mountpoint), "mountpoint")
		} else if mp := inherited(d.Name); d.Mountpoint == "" && mp != "" && !HasDotDot(d.Name) {
			// An inherited mountpoint another dataset sets explicitly.
			mounts.seen(c, dp+".name", mp, "mountpoint (inherited: "+mp+")")
		}
		c.pattern(dp+".owner", d.Owner, reOwner.match, "an owner (user or user:group)")
		c.pattern(dp+".mode", d.Mode, reMode.match, "an octal mode such as \"0775\" (quote it)")
	}
	return datasets
}

// checkStorages holds zfs.storages to their rules (each on a declared pool
// or dataset).
func (z *ZFS) checkStorages(c *checker, pools map[string]*Pool, datasets map[string]*Dataset) {
	ids := dups{}
	onDataset := dups{}
	for i := range z.Storages {
		st := &z.Storages[i]
		sp := index("zfs.storages", i)
		if c.required(sp+".id", st.ID) {
			if !reStorageID.match(st.ID) {
				c.errf(sp+".id", "%q is not a Proxmox storage id (a letter first; letters, digits, - _ .; not ending in - _ .)", st.ID)
			} else if wellKnownStorage[st.ID] != "" && !st.External {
				c.errf(sp+".id", "%q is a Proxmox default storage: pick another id, or mark it external: true", st.ID)
			}
			ids.seen(c, sp+".id", st.ID, "storage id")
		}
		allowed := storageContent[st.Type]
		switch {
		case st.External:
			// An external storage only says what it holds, if anything.
			for _, k := range []string{"type", "dataset", "sparse"} {
				if c.has(sp + "." + k) {
					c.errf(sp+"."+k, "an external storage exists already and is never created: remove %s", k)
				}
			}
			allowed = storageContent["dir"]
		case st.Type == "":
			c.required(sp+".type", st.Type)
		case allowed == nil:
			c.errf(sp+".type", "%q is not a storage type: use zfspool or dir", st.Type)
		}
		if !st.External && c.required(sp+".dataset", st.Dataset) {
			ds, isDS := datasets[st.Dataset]
			switch {
			case !isDS && pools[st.Dataset] == nil:
				c.errf(sp+".dataset", "dataset %q is not declared in zfs.datasets (declare it with external: true if it exists already)", st.Dataset)
			case isDS && st.Type == "dir" && (ds.Mountpoint == "none" || ds.Mountpoint == "legacy"):
				c.errf(sp+".dataset", "a dir storage needs a mounted dataset; %q has mountpoint %s", st.Dataset, ds.Mountpoint)
			}
			onDataset.seen(c, sp+".dataset", st.Dataset, "storage on dataset")
		}
		if len(st.Content) == 0 && !st.External {
			c.errf(sp+".content", "required: a list such as [images, rootdir]")
		}
		seenC := dups{}
		for j, ct := range st.Content {
			cp := index(sp+".content", j)
			if allowed != nil && !slices.Contains(allowed, ct) {
				kind := "a " + st.Type + " storage"
				if st.External {
					kind = "a storage"
				}
				c.errf(cp, "%q is not a content type of %s (use %s)", ct, kind, strings.Join(allowed, ", "))
				continue
			}
			seenC.seen(c, cp, ct, "content type")
		}
		if st.Sparse != nil && st.Type != "zfspool" && !st.External {
			c.errf(sp+".sparse", "sparse applies to zfspool storages only")
		}
	}
}

var storageContent = map[string][]string{
	"zfspool": {"images", "rootdir"},
	"dir":     {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"},
}

// wellKnownStorage are the storages a stock Proxmox install has, and the
// content they hold there: a container may use them without declaring them.
var wellKnownStorage = map[string]string{"local": "vztmpl", "local-lvm": "rootdir", "local-zfs": "rootdir"}

// poolLayout holds the rules of a pool's layout, disks and vdevs (paths
// relative to the pool: "layout", "vdevs[0].type"); missing reports a
// required key left out. The checker and Pool.LayoutErr both use it.
func poolLayout(p *Pool, errf func(path, format string, args ...any), missing func(path string)) {
	switch p.Layout {
	case "":
		missing("layout")
	case "stripe":
		if len(p.Disks) > 0 {
			errf("disks", "a stripe takes its disks in vdevs, not disks")
		}
		if len(p.VDevs) == 0 {
			errf("vdevs", "a stripe needs at least one vdev (each a mirror or raidz group)")
		}
		for j, v := range p.VDevs {
			vp := index("vdevs", j)
			switch minDisks[v.Type] {
			case 0, 1:
				errf(vp+".type", "%q is not a vdev type: use mirror, raidz1, raidz2 or raidz3", v.Type)
			default:
				if len(v.Disks) < minDisks[v.Type] {
					errf(vp+".disks", "a %s vdev needs at least %d disks, got %d", v.Type, minDisks[v.Type], len(v.Disks))
				}
			}
		}
	default:
		want, ok := minDisks[p.Layout]
		if !ok {
			errf("layout", "%q is not a layout: use single, mirror, raidz1, raidz2, raidz3 or stripe", p.Layout)
			break
		}
		if len(p.VDevs) > 0 {
			errf("vdevs", "vdevs are only for layout stripe")
		}
		switch {
		case p.Layout == "single" && len(p.Disks) != 1:
			errf("disks", "layout single takes exactly 1 disk, got %d", len(p.Disks))
		case len(p.Disks) < want:
			errf("disks", "layout %s needs at least %d disks, got %d", p.Layout, want, len(p.Disks))
		}
	}
}

// LayoutErr is the first problem of the pool's layout, disks and vdevs
// under the seed's rules (the ones `phoenix validate` reports), or nil.
// An external pool has no layout to check.
func (p *Pool) LayoutErr() error {
	if p.External {
		return nil
	}
	var err error
	poolLayout(p, func(rel, format string, args ...any) {
		if err == nil {
			err = fmt.Errorf("%s: %s", rel, fmt.Sprintf(format, args...))
		}
	}, func(rel string) {
		if err == nil {
			err = fmt.Errorf("%s: required", rel)
		}
	})
	return err
}

func (c *checker) diskList(path string, list []string, used dups, pool string) {
	for i, d := range list {
		p := index(path, i)
		if !reByID.match(d) {
			if strings.HasPrefix(d, "/dev/") {
				c.errf(p, "%q: use a stable /dev/disk/by-id/ path (/dev/sdX names change between boots)", d)
			} else {
				c.errf(p, "%q is not a /dev/disk/by-id/ path", d)
			}
			continue
		}
		if first, ok := used[d]; ok {
			c.errf(p, "disk %q is used twice (first at %s)", d, first)
			continue
		}
		used[d] = p
	}
}

func (c *checker) zprops(path string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := join(path, k)
		if !reZProp.match(k) {
			c.errf(p, "%q is not a ZFS property name", k)
		}
		if c.required(p, m[k]) {
			c.text(p, m[k])
		}
	}
}

// mountpoint checks a pool's or dataset's mountpoint, which must be set in
// one place only: the bash originals changed mountpoints back and forth.
func (c *checker) mountpoint(path, mp string, props map[string]string) {
	if mp != "" && mp != "none" && mp != "legacy" && !reAbsPath.match(mp) {
		c.errf(path+".mountpoint", "%q is not an absolute path, none or legacy", mp)
	} else {
		c.pathCheck(path+".mountpoint", mp, true)
	}
	if _, ok := props["mountpoint"]; ok {
		c.errf(join(path+".properties", "mountpoint"), "set the mountpoint with the mountpoint key, not as a property")
	}
}

func (c *checker) datasetDeclared(name string) bool {
	if c.s.ZFS == nil {
		return false
	}
	for _, d := range c.s.ZFS.Datasets {
		if d.Name == name {
			return true
		}
	}
	return false
}

// storageRef checks a storage a container uses: a seed storage holding
// that content, one declared external, or a Proxmox default.
func (c *checker) storageRef(path, id, content string) {
	if id == "" {
		return
	}
	if c.s.ZFS != nil {
		for _, st := range c.s.ZFS.Storages {
			if st.ID != id {
				continue
			}
			if (!st.External || len(st.Content) > 0) && !slices.Contains(st.Content, content) {
				c.errf(path, "storage %q does not hold %s content: add %s to its content", id, content, content)
			}
			return
		}
	}
	switch wellKnownStorage[id] {
	case content:
		return
	case "":
		c.errf(path, "storage %q is not declared in zfs.storages (declare it with external: true if it exists already)", id)
	default:
		c.errf(path, "Proxmox default storage %q does not hold %s content; use another storage or declare it with external: true", id, content)
	}
}

// mountpoints is Seed.Mountpoint for validation: the same rule, with the
// explicit mountpoints in a map, so a seed of many datasets is checked in
// linear time (Mountpoint scans every dataset per call).
func mountpoints(z *ZFS) func(string) string {
	explicit := map[string]string{}
	for _, p := range z.Pools {
		if p.Mountpoint != "" {
			explicit[p.Name] = p.Mountpoint
		}
	}
	for _, d := range z.Datasets {
		if n := strings.Trim(d.Name, "/"); d.Mountpoint != "" {
			if _, dup := explicit[n]; !dup {
				explicit[n] = d.Mountpoint
			}
		}
	}
	return func(dataset string) string {
		dataset = strings.Trim(dataset, "/")
		for anc := dataset; anc != "."; anc = path.Dir(anc) {
			if mp, ok := explicit[anc]; ok {
				if mp == "none" || mp == "legacy" {
					return ""
				}
				return path.Join(mp, strings.TrimPrefix(strings.TrimPrefix(dataset, anc), "/"))
			}
		}
		return "/" + dataset
	}
}

// Mountpoint is THE host path of a dataset (or pool) named in the seed,
// decided once for every module: the dataset's own mountpoint if the seed
// sets one, else the nearest ancestor's (dataset or pool) with the rest of
// the name appended, else ZFS's default /<pool>/<path>. NFS exports, Samba
// shares, dir storages and LXC mounts all use this path, so no two modules
// can disagree about it. It returns "" for "none" and "legacy".
func (s *Seed) Mountpoint(dataset string) string {
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
func (s *Seed) DatasetAt(p string) string {
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
		mp := s.Mountpoint(n)
		if mp == "" {
			continue
		}
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = n, len(mp)
		}
	}
	return best
}
