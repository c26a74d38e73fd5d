package fake

import (
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/zfs/prop"
)

// defaults are the filesystem properties the fake knows, with their
// defaults in parsable (-p) form.
var defaults = map[string]string{
	"compression": "off", "atime": "on", "relatime": "on", "xattr": "on", "acltype": "off",
	"recordsize": "131072", "sync": "standard", "quota": "0", "refquota": "0",
	"reservation": "0", "refreservation": "0", "canmount": "on", "dnodesize": "legacy",
	"checksum": "on", "snapdir": "hidden", "exec": "on", "setuid": "on", "devices": "on",
	"readonly": "off", "special_small_blocks": "0", "encryption": "off",
}

// notInherited are properties a child never takes from its parent.
var notInherited = map[string]bool{
	"quota": true, "refquota": true, "reservation": true, "refreservation": true,
	"canmount": true, "encryption": true,
}

func poolName(ds string) string {
	p, _, _ := strings.Cut(ds, "/")
	return p
}

// visible reports whether ds exists on an imported pool.
func (w *World) visible(ds string) bool {
	if _, ok := w.S.Datasets[ds]; !ok {
		return false
	}
	p := w.S.Pools[poolName(ds)]
	return p != nil && p.Imported
}

type propVal struct{ value, source string }

// get resolves property k of ds: local, inherited, or default, the way
// `zfs get` reports it.
func (w *World) get(ds, k string) propVal {
	if v, ok := w.S.Datasets[ds][k]; ok {
		return propVal{v, "local"}
	}
	parent := path.Dir(ds)
	if k == "mountpoint" {
		if parent == "." {
			return propVal{"/" + ds, "default"}
		}
		pv := w.get(parent, k)
		v := pv.value
		if v != "none" && v != "legacy" {
			v = path.Join(v, path.Base(ds))
		}
		src := pv.source
		switch src {
		case "local":
			src = "inherited from " + parent
		}
		return propVal{v, src}
	}
	if parent != "." && !notInherited[k] {
		pv := w.get(parent, k)
		if pv.source == "local" {
			return propVal{pv.value, "inherited from " + parent}
		}
		if pv.source != "default" {
			return pv
		}
	}
	return propVal{defaults[k], "default"}
}

func known(k string) bool {
	_, ok := defaults[k]
	return ok || k == "mountpoint" || strings.Contains(k, ":")
}

func (w *World) zfs(args []string) fakehost.Result {
	if len(args) == 0 {
		return fail(2, "missing command")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return w.zfsList(rest)
	case "get":
		return w.zfsGet(rest)
	case "create":
		return w.zfsCreate(rest)
	case "set":
		return w.zfsSet(rest)
	case "inherit":
		if len(rest) != 2 {
			return fail(2, "usage: inherit [-rS] <property> <filesystem|volume|snapshot> ...")
		}
		k, ds := rest[0], rest[1]
		if !w.visible(ds) {
			return fail(1, "cannot open '%s': dataset does not exist", ds)
		}
		if !known(k) {
			return fail(2, "invalid property '%s'", k)
		}
		delete(w.S.Datasets[ds], k)
		if k == "mountpoint" {
			w.mkdirMount(w.get(ds, k).value)
		}
		return fakehost.OK("")
	case "destroy":
		return fail(2, "fake zfs: destroy is not modelled (Phoenix never destroys datasets)")
	}
	return fail(2, "unrecognized command '%s'", sub)
}

func (w *World) zfsList(args []string) fakehost.Result {
	opts, rest, err := flags(args, "ost")
	if err != nil {
		return fail(2, "%v", err)
	}
	recursive := has(opts, "r")
	var b strings.Builder
	for _, ds := range slices.Sorted(maps.Keys(w.S.Datasets)) {
		if !w.visible(ds) {
			continue
		}
		if len(rest) > 0 {
			match := false
			for _, r := range rest {
				if ds == r || (recursive && strings.HasPrefix(ds, r+"/")) {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		b.WriteString(ds + "\n")
	}
	for _, r := range rest {
		if !w.visible(r) {
			return fail(1, "cannot open '%s': dataset does not exist", r)
		}
	}
	return fakehost.OK(b.String())
}

func (w *World) zfsGet(args []string) fakehost.Result {
	opts, rest, err := flags(args, "ost")
	if err != nil || len(rest) < 2 {
		return fail(2, "usage: get [-rHp] [-d max] [-o \"all\" | field[,...]] <\"all\" | property[,...]> [filesystem|volume|snapshot] ...")
	}
	fields := []string{"name", "property", "value", "source"}
	for _, o := range opts {
		if o[0] == "o" {
			fields = strings.Split(o[1], ",")
		}
	}
	keys := strings.Split(rest[0], ",")
	for _, k := range keys {
		if !known(k) {
			return fail(2, "bad property list: invalid property '%s'", k)
		}
	}
	var b strings.Builder
	for _, ds := range rest[1:] {
		if !w.visible(ds) {
			return fail(1, "cannot open '%s': dataset does not exist", ds)
		}
		for _, k := range keys {
			pv := w.get(ds, k)
			if strings.Contains(k, ":") && pv.source == "default" {
				pv = propVal{"-", "-"}
			}
			row := map[string]string{"name": ds, "property": k, "value": pv.value, "source": pv.source}
			var cols []string
			for _, f := range fields {
				cols = append(cols, row[f])
			}
			b.WriteString(strings.Join(cols, "\t") + "\n")
		}
	}
	return fakehost.OK(b.String())
}

// parseAssign validates k=v, normalizing sizes as zfs does.
func parseAssign(a string) (string, string, *fakehost.Result) {
	k, v, ok := strings.Cut(a, "=")
	if !ok {
		r := fail(2, "missing '=' for property argument '%s'", a)
		return "", "", &r
	}
	if !known(k) {
		r := fail(1, "cannot set property: invalid property '%s'", k)
		return "", "", &r
	}
	n, err := prop.Normalize(k, v)
	if err != nil {
		r := fail(1, "bad %s value '%s'", k, v)
		return "", "", &r
	}
	if k == "mountpoint" && n != "none" && n != "legacy" && !strings.HasPrefix(n, "/") {
		r := fail(1, "cannot set property: 'mountpoint' must be an absolute path, 'none', or 'legacy'")
		return "", "", &r
	}
	return k, n, nil
}

func (w *World) zfsCreate(args []string) fakehost.Result {
	opts, rest, err := flags(args, "o")
	if err != nil || len(rest) != 1 {
		return fail(2, "usage: create [-Pnpuv] [-o property=value] ... <filesystem>")
	}
	ds := rest[0]
	props := map[string]string{}
	for _, o := range opts {
		if o[0] == "o" {
			k, v, r := parseAssign(o[1])
			if r != nil {
				return *r
			}
			props[k] = v
		}
	}
	if p := w.S.Pools[poolName(ds)]; p == nil || !p.Imported {
		return fail(1, "cannot create '%s': no such pool '%s'", ds, poolName(ds))
	}
	if w.visible(ds) {
		return fail(1, "cannot create '%s': dataset already exists", ds)
	}
	parent := path.Dir(ds)
	if !w.visible(parent) {
		if !has(opts, "p") {
			return fail(1, "cannot create '%s': parent does not exist", ds)
		}
		var missing []string
		for p := parent; p != "." && !w.visible(p); p = path.Dir(p) {
			missing = append([]string{p}, missing...)
		}
		for _, m := range missing {
			w.S.Datasets[m] = map[string]string{}
			w.mkdirMount(w.get(m, "mountpoint").value)
		}
	}
	w.S.Datasets[ds] = props
	w.mkdirMount(w.get(ds, "mountpoint").value)
	return fakehost.OK("")
}

func (w *World) zfsSet(args []string) fakehost.Result {
	if len(args) < 2 {
		return fail(2, "usage: set <property=value> ... <filesystem|volume|snapshot> ...")
	}
	ds := args[len(args)-1]
	if !w.visible(ds) {
		return fail(1, "cannot open '%s': dataset does not exist", ds)
	}
	set := map[string]string{}
	for _, a := range args[:len(args)-1] {
		k, v, r := parseAssign(a)
		if r != nil {
			return *r
		}
		set[k] = v
	}
	for k, v := range set {
		w.S.Datasets[ds][k] = v
	}
	if _, ok := set["mountpoint"]; ok {
		w.mkdirMount(w.get(ds, "mountpoint").value)
	}
	return fakehost.OK("")
}
