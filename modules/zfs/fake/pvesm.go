package fake

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// StorageCfg is where pmxcfs keeps the storages; the fake pvesm rewrites it
// in the Root after every change, as Proxmox does.
const StorageCfg = "/etc/pve/storage.cfg"

// storageOpts are the options `pvesm add|set` accepts per type here; fixed
// ones cannot be changed by `pvesm set`.
var storageOpts = map[string]map[string]bool{ // type -> option -> fixed
	"zfspool": {"pool": true, "content": false, "sparse": false, "blocksize": false, "nodes": false, "disable": false, "mountpoint": false},
	"dir":     {"path": true, "content": false, "is_mountpoint": false, "mkdir": false, "nodes": false, "disable": false, "shared": false, "prune-backups": false},
	"nfs":     {"server": true, "export": true, "path": false, "content": false, "options": false, "nodes": false, "disable": false},
}

// AddStorage records an existing storage (e.g. the installer's "local").
func (w *World) AddStorage(id, typ string, opts ...[]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.S.Storages = append(w.S.Storages, &Storage{ID: id, Type: typ, Opts: opts})
	return w.writeStorageCfg()
}

func (w *World) storage(id string) *Storage {
	for _, s := range w.S.Storages {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func (w *World) writeStorageCfg() error {
	if w.Root == nil {
		return nil
	}
	var b strings.Builder
	for i, s := range w.S.Storages {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s: %s\n", s.Type, s.ID)
		for _, kv := range s.Opts {
			fmt.Fprintf(&b, "\t%s %s\n", kv[0], kv[1])
		}
	}
	return w.Root.WriteFile(StorageCfg, []byte(b.String()), 0o640, host.Owner{})
}

// pvesmOpts parses --key value pairs.
func pvesmOpts(args []string) ([][]string, error) {
	var out [][]string
	for i := 0; i < len(args); i++ {
		k, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			return nil, fmt.Errorf("unable to parse option\n400 too many arguments")
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("400 missing value for option '%s'", k)
		}
		out = append(out, []string{k, args[i+1]})
		i++
	}
	return out, nil
}

func (w *World) pvesm(args []string) fakehost.Result {
	if len(args) == 0 {
		return fail(255, "ERROR: no command specified")
	}
	switch args[0] {
	case "status":
		var b strings.Builder
		b.WriteString("Name             Type     Status           Total            Used       Available        %\n")
		for _, s := range w.S.Storages {
			fmt.Fprintf(&b, "%-16s %-8s %-8s %16d %15d %15d %8.2f%%\n", s.ID, s.Type, "active", 1000000, 1000, 999000, 0.10)
		}
		return fakehost.OK(b.String())
	case "add":
		if len(args) < 3 {
			return fail(255, "400 not enough arguments\npvesm add <type> <storage> [OPTIONS]")
		}
		typ, id := args[1], args[2]
		allowed, ok := storageOpts[typ]
		if !ok {
			return fail(255, "400 Parameter verification failed.\ntype: value '%s' does not have a value in the enumeration", typ)
		}
		opts, err := pvesmOpts(args[3:])
		if err != nil {
			return fail(255, "%v", err)
		}
		s := &Storage{ID: id, Type: typ}
		for _, kv := range opts {
			if _, ok := allowed[kv[0]]; !ok {
				return fail(255, "400 Parameter verification failed.\n%s: property is not defined in schema and the schema does not allow additional properties", kv[0])
			}
			s.setOpt(kv[0], kv[1])
		}
		if w.storage(id) != nil {
			return fail(255, "create storage failed: storage ID '%s' already defined", id)
		}
		switch typ {
		case "zfspool":
			pool, ok := s.Opt("pool")
			if !ok {
				return fail(255, "400 Parameter verification failed.\npool: property is missing and it is not optional")
			}
			if !w.visible(pool) {
				return fail(255, "create storage failed: zfs error: cannot open '%s': dataset does not exist", pool)
			}
		case "dir":
			if _, ok := s.Opt("path"); !ok {
				return fail(255, "400 Parameter verification failed.\npath: property is missing and it is not optional")
			}
		}
		w.S.Storages = append(w.S.Storages, s)
		if err := w.writeStorageCfg(); err != nil {
			return fail(255, "create storage failed: %v", err)
		}
		return fakehost.OK("")
	case "set":
		if len(args) < 2 {
			return fail(255, "400 not enough arguments")
		}
		s := w.storage(args[1])
		if s == nil {
			return fail(255, "update storage failed: error with cfs lock 'file-storage_cfg': storage '%s' does not exist", args[1])
		}
		opts, err := pvesmOpts(args[2:])
		if err != nil {
			return fail(255, "%v", err)
		}
		for _, kv := range opts {
			fixed, ok := storageOpts[s.Type][kv[0]]
			if !ok {
				return fail(255, "400 Parameter verification failed.\n%s: property is not defined in schema", kv[0])
			}
			if fixed {
				return fail(255, "update storage failed: can't change value of fixed parameter '%s'", kv[0])
			}
		}
		for _, kv := range opts {
			s.setOpt(kv[0], kv[1])
		}
		if err := w.writeStorageCfg(); err != nil {
			return fail(255, "update storage failed: %v", err)
		}
		return fakehost.OK("")
	case "remove":
		if len(args) != 2 {
			return fail(255, "400 not enough arguments")
		}
		for i, s := range w.S.Storages {
			if s.ID == args[1] {
				w.S.Storages = append(w.S.Storages[:i], w.S.Storages[i+1:]...)
				_ = w.writeStorageCfg()
				return fakehost.OK("")
			}
		}
		return fail(255, "delete storage failed: error with cfs lock 'file-storage_cfg': storage '%s' does not exist", args[1])
	}
	return fail(255, "unknown command 'pvesm %s'", args[0])
}

// lsblkDev is one device in `lsblk --json -b` output.
type lsblkDev struct {
	Name        string      `json:"name"`
	Path        string      `json:"path"`
	Type        string      `json:"type"`
	Size        int64       `json:"size"`
	Mountpoints []*string   `json:"mountpoints"`
	FSType      *string     `json:"fstype"`
	PKName      *string     `json:"pkname"`
	Children    []*lsblkDev `json:"children,omitempty"`
}

func toLsblk(d *Dev, parent string) *lsblkDev {
	o := &lsblkDev{Name: d.Name, Path: d.Path(), Type: d.Type, Size: d.Size}
	if len(d.Mounts) == 0 {
		o.Mountpoints = []*string{nil}
	}
	for _, m := range d.Mounts {
		o.Mountpoints = append(o.Mountpoints, &m)
	}
	if d.FSType != "" {
		o.FSType = &d.FSType
	}
	if parent != "" {
		o.PKName = &parent
	}
	for _, c := range d.Children {
		o.Children = append(o.Children, toLsblk(c, d.Name))
	}
	return o
}

// lsblk fakes `lsblk --json -b -o ...` (all columns the module reads are
// always printed) over all disks or the named ones.
func (w *World) lsblk(args []string) fakehost.Result {
	var devs []string
	jsonOut := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-J":
			jsonOut = true
		case a == "-o" || a == "--output":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			devs = append(devs, a)
		}
	}
	if !jsonOut {
		return fail(1, "fake lsblk: only --json output is modelled")
	}
	out := struct {
		BlockDevices []*lsblkDev `json:"blockdevices"`
	}{BlockDevices: []*lsblkDev{}}
	for _, d := range w.S.Disks {
		if len(devs) > 0 {
			found := false
			for _, a := range devs {
				if _, disk := w.find(a); disk == d {
					found = true
				}
			}
			if !found {
				continue
			}
		}
		out.BlockDevices = append(out.BlockDevices, toLsblk(d, ""))
	}
	for _, a := range devs {
		if dev, _ := w.find(a); dev == nil {
			return fail(32, "lsblk: %s: not a block device", a)
		}
	}
	b, _ := json.MarshalIndent(out, "", "   ")
	return fakehost.OK(string(b) + "\n")
}

// wipefs fakes `wipefs -a DEV`: erasing a partition table makes the kernel
// drop the partitions (wipefs re-reads the table).
func (w *World) wipefs(args []string) fakehost.Result {
	all := false
	var devs []string
	for _, a := range args {
		switch {
		case a == "-a" || a == "--all":
			all = true
		case strings.HasPrefix(a, "-"):
		default:
			devs = append(devs, a)
		}
	}
	if !all || len(devs) == 0 {
		return fail(1, "fake wipefs: only -a DEVICE is modelled")
	}
	var b strings.Builder
	for _, a := range devs {
		dev, disk := w.find(a)
		if dev == nil {
			return fail(1, "wipefs: error: %s: probing initialization failed: No such file or directory", a)
		}
		if mounted(dev) != "" || (w.poolOf(disk.Name) != nil && w.poolOf(disk.Name).Imported) {
			return fail(1, "wipefs: error: %s: probing initialization failed: Device or resource busy", a)
		}
		if dev.FSType != "" {
			fmt.Fprintf(&b, "%s: 4 bytes were erased at offset 0x00000438 (%s)\n", a, dev.FSType)
		}
		if dev == disk && len(disk.Children) > 0 {
			fmt.Fprintf(&b, "%s: 8 bytes were erased at offset 0x00000200 (gpt)\n%s: calling ioctl to re-read partition table: Success\n", a, a)
			disk.Children = nil
			if p := w.poolOf(disk.Name); p != nil {
				w.dropDisk(p, disk.Name)
			}
		}
		dev.FSType = ""
	}
	return fakehost.OK(b.String())
}

// dropDisk forgets a wiped disk's membership of an exported pool; a pool
// with no disks left is gone.
func (w *World) dropDisk(p *Pool, disk string) {
	var keep []VDev
	for _, v := range p.VDevs {
		var ds []string
		for _, d := range v.Disks {
			if d != disk {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			v.Disks = ds
			keep = append(keep, v)
		}
	}
	p.VDevs = keep
	if len(keep) == 0 {
		delete(w.S.Pools, p.Name)
		for ds := range w.S.Datasets {
			if poolName(ds) == p.Name {
				delete(w.S.Datasets, ds)
			}
		}
	}
}

// sgdisk fakes `sgdisk --zap-all DEV`.
func (w *World) sgdisk(args []string) fakehost.Result {
	if len(args) != 2 || (args[0] != "--zap-all" && args[0] != "-Z") {
		return fail(2, "fake sgdisk: only --zap-all DEVICE is modelled")
	}
	dev, disk := w.find(args[1])
	if dev == nil || dev != disk {
		return fail(2, "Problem opening %s for reading! Error is 2.", args[1])
	}
	if mounted(disk) != "" {
		return fail(2, "Warning: The kernel is still using the old partition table.")
	}
	disk.Children = nil
	return fakehost.OK("GPT data structures destroyed! You may now partition the disk using fdisk or\nother utilities.\n")
}
