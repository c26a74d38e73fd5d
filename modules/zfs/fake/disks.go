package fake

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// lsblkColumns are the columns the fake can print, by lsblk's name.
var lsblkColumns = map[string]func(d *Dev, parent string) any{
	"NAME": func(d *Dev, _ string) any { return d.Name },
	"PATH": func(d *Dev, _ string) any { return d.Path() },
	"TYPE": func(d *Dev, _ string) any { return d.Type },
	"SIZE": func(d *Dev, _ string) any { return d.Size },
	"MOUNTPOINTS": func(d *Dev, _ string) any {
		if len(d.Mounts) == 0 {
			return []*string{nil}
		}
		return d.Mounts
	},
	"MOUNTPOINT": func(d *Dev, _ string) any {
		if len(d.Mounts) == 0 {
			return nil
		}
		return d.Mounts[0]
	},
	"FSTYPE": func(d *Dev, _ string) any { return nullable(d.FSType) },
	"PKNAME": func(_ *Dev, parent string) any { return nullable(parent) },
	"UUID":   func(d *Dev, _ string) any { return nullable(d.UUID) },
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// lsblkRow is one device with the asked-for columns in their order, as
// `lsblk --json` prints them (util-linux 2.38: keys are the lower-case
// column names, absent values null, children nested).
type lsblkRow struct {
	keys     []string
	vals     []any
	children []*lsblkRow
}

func (r *lsblkRow) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{")
	for i, k := range r.keys {
		if i > 0 {
			b.WriteString(",")
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(r.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteString(":")
		b.Write(vb)
	}
	if len(r.children) > 0 {
		cb, err := json.Marshal(r.children)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"children":`)
		b.Write(cb)
	}
	b.WriteString("}")
	return []byte(b.String()), nil
}

func toLsblk(d *Dev, parent string, cols []string) *lsblkRow {
	r := &lsblkRow{}
	for _, c := range cols {
		r.keys = append(r.keys, strings.ToLower(c))
		r.vals = append(r.vals, lsblkColumns[c](d, parent))
	}
	for _, c := range d.Children {
		r.children = append(r.children, toLsblk(c, d.Name, cols))
	}
	return r
}

// lsblk fakes `lsblk --json -b -o COLUMNS [DEVICE...]` over all disks or
// the named ones: it prints exactly the columns asked for, in their order,
// as the real lsblk does (lsblk(8) -o). Only --json output with an -o
// list is modelled; a column the fake does not know fails the way lsblk
// fails on an unknown column.
func (w *World) lsblk(args []string) fakehost.Result {
	var devs, cols []string
	jsonOut := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-J":
			jsonOut = true
		case a == "-o" || a == "--output":
			if i+1 < len(args) {
				cols = append(cols, strings.Split(args[i+1], ",")...)
			}
			i++
		case strings.HasPrefix(a, "--output="):
			cols = append(cols, strings.Split(strings.TrimPrefix(a, "--output="), ",")...)
		case strings.HasPrefix(a, "-"):
		default:
			devs = append(devs, a)
		}
	}
	if !jsonOut || len(cols) == 0 {
		return fail(1, "fake lsblk: only --json output with -o COLUMNS is modelled")
	}
	for i, c := range cols {
		cols[i] = strings.ToUpper(c)
		if lsblkColumns[cols[i]] == nil {
			return fail(1, "lsblk: unknown column: %s", c)
		}
	}
	out := struct {
		BlockDevices []*lsblkRow `json:"blockdevices"`
	}{BlockDevices: []*lsblkRow{}}
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
		out.BlockDevices = append(out.BlockDevices, toLsblk(d, "", cols))
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
