package fake

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/zfs/prop"
)

// poolProps are the pool properties `zpool create -o` and `zpool set`
// accept here, with their defaults.
var poolProps = map[string]string{
	"ashift": "0", "autotrim": "off", "autoexpand": "off", "autoreplace": "off",
	"failmode": "wait", "multihost": "off", "comment": "-", "cachefile": "-",
	"compatibility": "off",
}

func (w *World) zpool(args []string) fakehost.Result {
	if len(args) == 0 {
		return fail(2, "missing command")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return w.zpoolList(rest)
	case "status":
		return w.zpoolStatus(rest)
	case "import":
		return w.zpoolImport(rest)
	case "export":
		if len(rest) != 1 {
			return fail(2, "missing pool argument")
		}
		p := w.S.Pools[rest[0]]
		if p == nil || !p.Imported {
			return fail(1, "cannot open '%s': no such pool", rest[0])
		}
		p.Imported = false
		return fakehost.OK("")
	case "create":
		return w.zpoolCreate(rest)
	case "get":
		return w.zpoolGet(rest)
	case "set":
		if len(rest) != 2 {
			return fail(2, "usage: set <property=value> <pool>")
		}
		p := w.S.Pools[rest[1]]
		if p == nil || !p.Imported {
			return fail(1, "cannot open '%s': no such pool", rest[1])
		}
		k, v, ok := strings.Cut(rest[0], "=")
		if _, known := poolProps[k]; !ok || !known || k == "ashift" {
			return fail(1, "cannot set property for '%s': invalid property '%s'", p.Name, k)
		}
		p.Props[k] = v
		return fakehost.OK("")
	}
	return fail(2, "unrecognized command '%s'", sub)
}

// flags splits leading -x options; value options take the next argument.
func flags(args []string, withValue string) (opts [][2]string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			return opts, args[i:], nil
		}
		f := a[1:]
		if strings.Contains(withValue, f) && len(f) == 1 {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("missing argument for '-%s' option", f)
			}
			opts = append(opts, [2]string{f, args[i+1]})
			i++
			continue
		}
		for _, c := range f {
			opts = append(opts, [2]string{string(c), ""})
		}
	}
	return opts, nil, nil
}

func has(opts [][2]string, f string) bool {
	for _, o := range opts {
		if o[0] == f {
			return true
		}
	}
	return false
}

func (w *World) zpoolList(args []string) fakehost.Result {
	_, rest, err := flags(args, "o")
	if err != nil {
		return fail(2, "%v", err)
	}
	var b strings.Builder
	names := slices.Sorted(maps.Keys(w.S.Pools))
	if len(rest) > 0 {
		names = rest
	}
	for _, n := range names {
		p := w.S.Pools[n]
		if p == nil || !p.Imported {
			if len(rest) > 0 {
				return fail(1, "cannot open '%s': no such pool", n)
			}
			continue
		}
		fmt.Fprintf(&b, "%s\n", n)
	}
	return fakehost.OK(b.String())
}

// devName is how a pool member shows in status -P -L (the partition ZFS
// made) or in the import listing (by-id name of that partition).
func (w *World) devName(disk string, byID bool) string {
	d := w.diskByName(disk)
	if byID && d != nil && len(d.ByID) > 0 {
		return d.ByID[0] + "-part1"
	}
	if byID {
		return partName(disk, 1)
	}
	return "/dev/" + partName(disk, 1)
}

func (w *World) writeConfig(b *strings.Builder, p *Pool, byID bool, cols string) {
	row := func(depth int, name string) {
		fmt.Fprintf(b, "\t%-*s%s\n", 30, strings.Repeat("  ", depth)+name, cols)
	}
	row(0, p.Name)
	for i, v := range p.VDevs {
		if v.Type == "disk" {
			row(1, w.devName(v.Disks[0], byID))
			continue
		}
		row(1, fmt.Sprintf("%s-%d", v.Type, i))
		for _, d := range v.Disks {
			row(2, w.devName(d, byID))
		}
	}
}

func (w *World) zpoolStatus(args []string) fakehost.Result {
	_, rest, err := flags(args, "T")
	if err != nil {
		return fail(2, "%v", err)
	}
	names := slices.Sorted(maps.Keys(w.S.Pools))
	if len(rest) > 0 {
		names = rest
	}
	var b strings.Builder
	for _, n := range names {
		p := w.S.Pools[n]
		if p == nil || !p.Imported {
			if len(rest) > 0 {
				return fail(1, "cannot open '%s': no such pool", n)
			}
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  pool: %s\n state: ONLINE\nconfig:\n\n", p.Name)
		fmt.Fprintf(&b, "\t%-30s%s\n", "NAME", "STATE     READ WRITE CKSUM")
		w.writeConfig(&b, p, false, "ONLINE       0     0     0")
		b.WriteString("\nerrors: No known data errors\n")
	}
	if b.Len() == 0 {
		return fakehost.OK("no pools available\n")
	}
	return fakehost.OK(b.String())
}

func (w *World) zpoolImport(args []string) fakehost.Result {
	opts, rest, err := flags(args, "do")
	if err != nil {
		return fail(2, "%v", err)
	}
	if len(rest) == 0 {
		var b strings.Builder
		for _, n := range slices.Sorted(maps.Keys(w.S.Pools)) {
			p := w.S.Pools[n]
			if p.Imported {
				continue
			}
			fmt.Fprintf(&b, "   pool: %s\n     id: %d\n  state: ONLINE\n", p.Name, p.ID)
			if p.HostID != w.S.HostID {
				fmt.Fprintf(&b, " status: The pool was last accessed by another system.\n")
				fmt.Fprintf(&b, " action: The pool can be imported using its name or numeric identifier and\n\tthe '-f' flag.\n")
			} else {
				fmt.Fprintf(&b, " action: The pool can be imported using its name or numeric identifier.\n")
			}
			fmt.Fprintf(&b, " config:\n\n")
			w.writeConfig(&b, p, has(opts, "d"), "ONLINE")
			b.WriteString("\n")
		}
		if b.Len() == 0 {
			// openzfs cmd/zpool/zpool_main.c:4115-4118 (at be7657e):
			// with no pool named and none found, the message goes to
			// stderr and err stays 0, so zpool_do_import returns 0
			// (:4703).
			return fakehost.Result{Stderr: "no pools available to import\n"}
		}
		return fakehost.OK(b.String())
	}
	p := w.S.Pools[rest[0]]
	if p == nil {
		return fail(1, "cannot import '%s': no such pool available", rest[0])
	}
	if p.Imported {
		return fail(1, "cannot import '%s': a pool with that name already exists", p.Name)
	}
	if p.HostID != w.S.HostID && !has(opts, "f") {
		return fail(1, "cannot import '%s': pool was previously in use from another system.\nLast accessed by (hostid=%s)\nThe pool can be imported, use 'zpool import -f' to import the pool.", p.Name, p.HostID)
	}
	p.Imported, p.HostID = true, w.S.HostID
	if !has(opts, "N") {
		for _, ds := range slices.Sorted(maps.Keys(w.S.Datasets)) {
			if poolName(ds) == p.Name {
				w.mkdirMount(w.get(ds, "mountpoint").value)
			}
		}
	}
	return fakehost.OK("")
}

func (w *World) zpoolCreate(args []string) fakehost.Result {
	opts, rest, err := flags(args, "oOmR")
	if err != nil {
		return fail(2, "%v", err)
	}
	if len(rest) < 2 {
		return fail(2, "missing vdev specification")
	}
	poolOpts := map[string]string{}
	fsProps := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o[1], "=")
		switch o[0] {
		case "o":
			if _, known := poolProps[k]; !ok || !known {
				return fail(2, "property '%s' is not a valid pool property", k)
			}
			poolOpts[k] = v
		case "O":
			if !ok {
				return fail(2, "missing '=' for -O argument")
			}
			if _, known := defaults[k]; !known && k != "mountpoint" {
				return fail(2, "invalid property '%s'", k)
			}
			n, err := prop.Normalize(k, v)
			if err != nil {
				return fail(2, "bad %s value '%s'", k, v)
			}
			fsProps[k] = n
		}
	}
	name := rest[0]
	if p := w.S.Pools[name]; p != nil && p.Imported {
		return fail(1, "cannot create '%s': pool already exists", name)
	}
	var vdevs []VDev
	for _, a := range rest[1:] {
		switch a {
		case "mirror", "raidz", "raidz1", "raidz2", "raidz3":
			t := a
			if t == "raidz" {
				t = "raidz1"
			}
			vdevs = append(vdevs, VDev{Type: t})
			continue
		case "log", "cache", "spare", "special", "dedup":
			return fail(2, "fake zpool: %s vdevs are not modelled", a)
		}
		dev, disk := w.find(a)
		if dev == nil {
			return fail(1, "cannot open '%s': no such device in /dev\nmust be a full path or shorthand device name", a)
		}
		if dev != disk {
			return fail(2, "fake zpool: only whole disks are modelled (%s)", a)
		}
		// Devices before any group keyword are single-disk vdevs; after a
		// keyword they belong to that group, as in zpool(8).
		if n := len(vdevs); n == 0 || vdevs[n-1].Type == "disk" {
			vdevs = append(vdevs, VDev{Type: "disk"})
		}
		v := &vdevs[len(vdevs)-1]
		v.Disks = append(v.Disks, disk.Name)
	}
	min := map[string]int{"disk": 1, "mirror": 2, "raidz1": 2, "raidz2": 3, "raidz3": 4}
	for _, v := range vdevs {
		if len(v.Disks) < min[v.Type] {
			return fail(2, "invalid vdev specification: %s requires at least %d devices", v.Type, min[v.Type])
		}
	}
	force := has(opts, "f")
	var problems []string
	for _, v := range vdevs {
		for _, dn := range v.Disks {
			d := w.diskByName(dn)
			if p := w.poolOf(dn); p != nil && p.Imported {
				return fail(1, "invalid vdev specification\n%s is part of active pool '%s'", w.devName(dn, false), p.Name)
			}
			if m := mounted(d); m != "" {
				return fail(1, "cannot open '/dev/%s': Device or resource busy", dn)
			}
			if force {
				continue
			}
			if p := w.poolOf(dn); p != nil {
				problems = append(problems, fmt.Sprintf("%s is part of exported pool '%s'", w.devName(dn, false), p.Name))
			} else if d.FSType != "" {
				problems = append(problems, fmt.Sprintf("/dev/%s contains a filesystem of type '%s'", dn, d.FSType))
			} else if len(d.Children) > 0 {
				problems = append(problems, fmt.Sprintf("/dev/%s does not contain an EFI label but it may contain partition\ninformation in the MBR.", dn))
			}
		}
	}
	if len(problems) > 0 {
		return fail(1, "invalid vdev specification\nuse '-f' to override the following errors:\n%s", strings.Join(problems, "\n"))
	}
	if err := w.createPool(name, vdevs, poolOpts, fsProps); err != nil {
		return fail(1, "%v", err)
	}
	return fakehost.OK("")
}

// KilledCreate leaves disk (a whole disk's kernel name) as a `zpool
// create` killed part way leaves it: partitioned as zpool_label_disk does
// (openzfs lib/libzfs/os/linux/libzfs_pool_os.c:202-307), partition 1
// with the ZFS label when labelled, and no pool anywhere: the state the
// e2e VM showed after a power cut during `zpool create` (vda1, vda9, no
// pool to import).
func (w *World) KilledCreate(disk string, labelled bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.diskByName(disk)
	if d == nil {
		return fmt.Errorf("no disk %s", disk)
	}
	w.partitionForZFS(d)
	if !labelled {
		d.Children[0].FSType = ""
	}
	return w.linkDisk(d)
}

// partitionForZFS partitions a whole disk as ZFS does: partition 1
// zfs_member, partition 9 reserved.
func (w *World) partitionForZFS(d *Dev) {
	d.FSType = ""
	d.Children = []*Dev{
		{Name: partName(d.Name, 1), Type: "part", Size: d.Size - 8<<20, FSType: "zfs_member"},
		{Name: partName(d.Name, 9), Type: "part", Size: 8 << 20},
	}
}

// createPool records a pool and partitions its disks as ZFS does for whole
// disks: partition 1 zfs_member, partition 9 reserved.
func (w *World) createPool(name string, vdevs []VDev, poolOpts, fsProps map[string]string) error {
	for _, v := range vdevs {
		for _, dn := range v.Disks {
			d := w.diskByName(dn)
			if d == nil {
				return fmt.Errorf("no disk %s", dn)
			}
			if old := w.poolOf(dn); old != nil {
				delete(w.S.Pools, old.Name) // -f over an exported pool's labels
			}
			w.partitionForZFS(d)
			if err := w.linkDisk(d); err != nil {
				return err
			}
		}
	}
	props := map[string]string{}
	for k, v := range poolOpts {
		props[k] = v
	}
	w.S.Pools[name] = &Pool{Name: name, ID: w.S.NextID, VDevs: vdevs, Imported: true, HostID: w.S.HostID, Props: props}
	w.S.NextID++
	for ds := range w.S.Datasets {
		if poolName(ds) == name {
			delete(w.S.Datasets, ds)
		}
	}
	local := map[string]string{}
	for k, v := range fsProps {
		local[k] = v
	}
	w.S.Datasets[name] = local
	w.mkdirMount(w.get(name, "mountpoint").value)
	return nil
}

func (w *World) zpoolGet(args []string) fakehost.Result {
	opts, rest, err := flags(args, "o")
	if err != nil || len(rest) != 2 {
		return fail(2, "usage: get [-Hp] [-o field[,...]] <\"all\" | property[,...]> <pool> ...")
	}
	p := w.S.Pools[rest[1]]
	if p == nil || !p.Imported {
		return fail(1, "cannot open '%s': no such pool", rest[1])
	}
	fields := []string{"name", "property", "value", "source"}
	for _, o := range opts {
		if o[0] == "o" {
			fields = strings.Split(o[1], ",")
		}
	}
	var b strings.Builder
	for _, k := range strings.Split(rest[0], ",") {
		def, ok := poolProps[k]
		if !ok {
			return fail(2, "bad property list: invalid property '%s'", k)
		}
		val, src := def, "default"
		if v, ok := p.Props[k]; ok {
			val, src = v, "local"
		}
		row := map[string]string{"name": p.Name, "property": k, "value": val, "source": src}
		var cols []string
		for _, f := range fields {
			cols = append(cols, row[f])
		}
		b.WriteString(strings.Join(cols, "\t") + "\n")
	}
	return fakehost.OK(b.String())
}
