package zfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// StorageEntry is one section of /etc/pve/storage.cfg.
type StorageEntry struct {
	Type string
	ID   string
	Opts map[string]string
}

// ParseStorageCfg parses the section format of /etc/pve/storage.cfg:
// "type: id" then tab-indented "key value" lines (a bare key is a flag set
// to 1).
func ParseStorageCfg(data []byte) ([]StorageEntry, error) {
	var out []StorageEntry
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			typ, id, ok := strings.Cut(t, ":")
			if !ok || strings.TrimSpace(id) == "" {
				return nil, fmt.Errorf("storage.cfg:%d: bad section header %q", i+1, t)
			}
			out = append(out, StorageEntry{Type: strings.TrimSpace(typ), ID: strings.TrimSpace(id), Opts: map[string]string{}})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("storage.cfg:%d: option outside a section", i+1)
		}
		k, v, ok := strings.Cut(t, " ")
		if !ok {
			v = "1"
		}
		out[len(out)-1].Opts[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// storageWant is what a seed storage must look like.
type storageWant struct {
	id, typ, target string // target: the pool (zfspool) or path (dir)
	content         []string
	add             []string // pvesm add argv
	sparse          string   // zfspool: "1" or "0"
}

func (r *run) storageWants() ([]storageWant, error) {
	var out []storageWant
	seen := map[string]string{}
	for _, st := range r.Env.Seed.ZFS.Storages {
		w := storageWant{id: st.ID, typ: st.Type, content: st.Content}
		ds := strings.Trim(st.Dataset, "/")
		switch st.Type {
		case "zfspool":
			w.target, w.sparse = ds, "1"
			if st.Sparse != nil && !*st.Sparse {
				w.sparse = "0"
			}
			w.add = []string{"add", "zfspool", st.ID, "--pool", ds, "--content", strings.Join(st.Content, ","), "--sparse", w.sparse}
		case "dir":
			w.target = r.Env.Seed.Mountpoint(ds)
			if w.target == "" {
				return nil, fmt.Errorf("storage %q: dataset %q has no mountpoint", st.ID, ds)
			}
			// The dataset is the base directory: with is_mountpoint,
			// activation refuses an unmounted one, and create-base-path 0
			// never makes a plain directory in its place. create-subdirs
			// makes dump/, template/cache/ and the rest for the content
			// types (pve-storage src/PVE/Storage/Plugin.pm:1998-2013); the
			// deprecated mkdir would turn that off too (DirPlugin.pm:55).
			w.add = []string{"add", "dir", st.ID, "--path", w.target, "--content", strings.Join(st.Content, ","), "--is_mountpoint", "yes", "--create-base-path", "0", "--create-subdirs", "1"}
		default:
			return nil, fmt.Errorf("storage %q: type %q is not zfspool or dir", st.ID, st.Type)
		}
		key := st.Type + " " + w.target
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("storage %q: %s %s is already storage %q in the seed; a dataset is registered once", st.ID, st.Type, w.target, other)
		}
		seen[key] = st.ID
		if st.External {
			w.add = nil
		}
		out = append(out, w)
	}
	return out, nil
}

func targetOf(e StorageEntry) string {
	switch e.Type {
	case "zfspool":
		return e.Opts["pool"]
	case "dir":
		return strings.TrimRight(e.Opts["path"], "/")
	}
	return ""
}

func sameSet(a []string, csv string) bool {
	var b []string
	for _, x := range strings.Split(csv, ",") {
		if x = strings.TrimSpace(x); x != "" {
			b = append(b, x)
		}
	}
	return sortedCSV(a) == sortedCSV(b)
}

func (r *run) storages(ctx context.Context) error {
	wants, err := r.storageWants()
	if err != nil || len(wants) == 0 {
		return err
	}
	data, err := r.Env.Root.ReadFile(StorageCfg)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", StorageCfg, err)
	}
	cfg, err := ParseStorageCfg(data)
	if err != nil {
		return err
	}
	byID := map[string]StorageEntry{}
	for _, e := range cfg {
		byID[e.ID] = e
	}
	for _, w := range wants {
		if err := r.storage(ctx, w, byID, cfg); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) storage(ctx context.Context, w storageWant, byID map[string]StorageEntry, cfg []StorageEntry) error {
	e, exists := byID[w.id]
	if !exists {
		if w.add == nil {
			return fmt.Errorf("storage %q: marked external but not in %s", w.id, StorageCfg)
		}
		for _, o := range cfg {
			if o.Type == w.typ && targetOf(o) == w.target {
				return fmt.Errorf("storage %q: %s %s is already registered as storage %q; Phoenix never registers a dataset twice (rename the seed's id to %q to adopt it)", w.id, w.typ, w.target, o.ID, o.ID)
			}
		}
		return r.Do(fmt.Sprintf("add storage %s (%s %s)", w.id, w.typ, w.target), func() error {
			if _, err := r.cmd(ctx, PvesmCmd, w.add...); err != nil {
				return fmt.Errorf("add storage %q: %w", w.id, err)
			}
			return nil
		})
	}
	if e.Type != w.typ {
		return fmt.Errorf("storage %q: exists as type %s, the seed says %s; Phoenix does not change a storage's type (remove it or rename one)", w.id, e.Type, w.typ)
	}
	if got := targetOf(e); got != w.target {
		what := map[string]string{"zfspool": "pool", "dir": "path"}[w.typ]
		return fmt.Errorf("storage %q: has %s %s, the seed says %s; it is fixed in Proxmox (remove it or rename one)", w.id, what, got, w.target)
	}
	if w.add == nil {
		return nil
	}
	var set []string
	if !sameSet(w.content, e.Opts["content"]) {
		set = append(set, "--content", strings.Join(w.content, ","))
	}
	if w.typ == "zfspool" {
		got := e.Opts["sparse"]
		if got == "" {
			got = "0"
		}
		if got != w.sparse {
			set = append(set, "--sparse", w.sparse)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return r.Do(fmt.Sprintf("set storage %s %s", w.id, strings.Join(set, " ")), func() error {
		if _, err := r.cmd(ctx, PvesmCmd, append([]string{"set", w.id}, set...)...); err != nil {
			return fmt.Errorf("set storage %q: %w", w.id, err)
		}
		return nil
	})
}
