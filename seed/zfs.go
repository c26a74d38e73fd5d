package seed

import (
	"path"
	"strings"
)

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
