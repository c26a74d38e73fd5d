package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
)

// Dev is one block device as lsblk shows it: a disk and, below it, its
// partitions and holders (LVM volumes, md arrays).
type Dev struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // disk, part, lvm, raid1, crypt
	Size     int64    `json:"size,omitempty"`
	FSType   string   `json:"fstype,omitempty"`
	Mounts   []string `json:"mounts,omitempty"`
	UUID     string   `json:"uuid,omitempty"`  // the filesystem UUID lsblk's UUID column shows
	ByID     []string `json:"by_id,omitempty"` // disks: names under /dev/disk/by-id
	Children []*Dev   `json:"children,omitempty"`
}

// Path is the device node, as lsblk's PATH column prints it.
func (d *Dev) Path() string {
	if d.Type == "lvm" || d.Type == "crypt" {
		return "/dev/mapper/" + d.Name
	}
	return "/dev/" + d.Name
}

// VDev is one top-level vdev: Type "disk" (a plain disk), "mirror",
// "raidz1", "raidz2" or "raidz3"; Disks are kernel names of whole disks.
type VDev struct {
	Type  string   `json:"type"`
	Disks []string `json:"disks"`
}

// Pool is one zpool, imported or only present on its disks.
type Pool struct {
	Name     string            `json:"name"`
	ID       uint64            `json:"id"`
	VDevs    []VDev            `json:"vdevs"`
	Imported bool              `json:"imported"`
	HostID   string            `json:"hostid"` // the host that last imported it
	Props    map[string]string `json:"props,omitempty"`
}

// State is everything the fakes know; it is what Effects dumps.
type State struct {
	HostID   string                       `json:"hostid"`
	Disks    []*Dev                       `json:"disks"`
	Pools    map[string]*Pool             `json:"pools"`
	Datasets map[string]map[string]string `json:"datasets"` // name -> local properties
	NextID   uint64                       `json:"next_id"`
}

// World is the shared state of the storage fakes. Root, when set, receives
// what the real tools would change in the filesystem: mountpoint directories
// of mounted datasets and /etc/pve/storage.cfg.
type World struct {
	mu   sync.Mutex
	Root host.Root
	S    State
}

// New returns an empty World on root (which may be nil).
func New(root host.Root) *World {
	return &World{Root: root, S: State{
		HostID: "a1b2c3d4", Pools: map[string]*Pool{},
		Datasets: map[string]map[string]string{}, NextID: 1001,
	}}
}

// AddDisk adds a disk and creates its /dev/disk/by-id symlinks in the Root.
func (w *World) AddDisk(d *Dev) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d.Type == "" {
		d.Type = "disk"
	}
	w.S.Disks = append(w.S.Disks, d)
	return w.linkDisk(d)
}

func (w *World) linkDisk(d *Dev) error {
	if w.Root == nil {
		return nil
	}
	// Device nodes stand in as empty files, so by-id links resolve.
	var nodes func(*Dev) error
	nodes = func(x *Dev) error {
		if !host.Exists(w.Root, x.Path()) {
			if err := w.Root.WriteFile(x.Path(), nil, 0o660, host.Owner{}); err != nil {
				return err
			}
		}
		for _, c := range x.Children {
			if err := nodes(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := nodes(d); err != nil {
		return err
	}
	for _, id := range d.ByID {
		if err := w.Root.Symlink("../../"+d.Name, "/dev/disk/by-id/"+id); err != nil {
			return err
		}
		for _, c := range d.Children {
			if c.Type == "part" {
				if n := partNum(d.Name, c.Name); n != "" {
					if err := w.Root.Symlink("../../"+c.Name, "/dev/disk/by-id/"+id+"-part"+n); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func partNum(disk, part string) string {
	n := strings.TrimPrefix(part, disk)
	return strings.TrimPrefix(n, "p")
}

func partName(disk string, n int) string {
	if disk != "" && disk[len(disk)-1] >= '0' && disk[len(disk)-1] <= '9' {
		return fmt.Sprintf("%sp%d", disk, n)
	}
	return fmt.Sprintf("%s%d", disk, n)
}

// AddPool makes an existing pool (imported or not) on disks as `zpool
// create` would, with fsProps set on its root dataset.
func (w *World) AddPool(name string, vdevs []VDev, imported bool, hostID string, fsProps map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.createPool(name, vdevs, map[string]string{"ashift": "12"}, fsProps); err != nil {
		return err
	}
	p := w.S.Pools[name]
	p.Imported, p.HostID = imported, hostID
	return nil
}

// Reinstall simulates a fresh OS install on the same disks: every pool is
// no longer imported (the new system has no zpool.cache) and the host id
// changes.
func (w *World) Reinstall() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.S.Pools {
		p.Imported = false
	}
	w.S.HostID = "e5f6a7b8"
}

// Effects is a canonical dump of the external state, for fault tests.
func (w *World) Effects() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, _ := json.MarshalIndent(w.S, "", " ") // maps are sorted by encoding/json
	out := string(b)
	if w.Root != nil {
		// Storages live in storage.cfg (the pvesm fake's state).
		if cfg, err := w.Root.ReadFile(StorageCfg); err == nil {
			out += "\n" + StorageCfg + ":\n" + string(cfg)
		}
	}
	return out
}

// Register installs the fakes on r under their command names.
func (w *World) Register(r *fakehost.Runner) {
	for name, h := range w.Handlers() {
		r.Handle(name, h)
	}
}

// Handlers returns the fakes by command name.
func (w *World) Handlers() map[string]fakehost.Handler {
	wrap := func(f func(args []string) fakehost.Result) fakehost.Handler {
		return func(_ context.Context, c fakehost.Call) fakehost.Result {
			w.mu.Lock()
			defer w.mu.Unlock()
			return f(c.Cmd.Args)
		}
	}
	return map[string]fakehost.Handler{
		"zpool":  wrap(w.zpool),
		"zfs":    wrap(w.zfs),
		"pvesm":  wrap(w.pvesm),
		"lsblk":  wrap(w.lsblk),
		"wipefs": wrap(w.wipefs),
		"sgdisk": wrap(w.sgdisk),
		// udevadm settle only waits for udev; the fake's links are made
		// synchronously.
		"udevadm": wrap(func([]string) fakehost.Result { return fakehost.OK("") }),
	}
}

// disk finds a device by /dev path, by-id path (with -partN) or name, and
// returns it with its whole disk.
func (w *World) find(arg string) (dev, disk *Dev) {
	name := strings.TrimPrefix(arg, "/dev/")
	if id, ok := strings.CutPrefix(arg, "/dev/disk/by-id/"); ok {
		for _, d := range w.S.Disks {
			for _, b := range d.ByID {
				if id == b {
					return d, d
				}
				if n, ok := strings.CutPrefix(id, b+"-part"); ok {
					for _, c := range d.Children {
						if c.Type == "part" && partNum(d.Name, c.Name) == n {
							return c, d
						}
					}
				}
			}
		}
		return nil, nil
	}
	for _, d := range w.S.Disks {
		if d.Name == name {
			return d, d
		}
		for _, c := range d.Children {
			if c.Name == name {
				return c, d
			}
		}
	}
	return nil, nil
}

func (w *World) diskByName(name string) *Dev {
	for _, d := range w.S.Disks {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// mounted returns the first mountpoint in d's subtree.
func mounted(d *Dev) string {
	if len(d.Mounts) > 0 {
		return d.Mounts[0]
	}
	for _, c := range d.Children {
		if m := mounted(c); m != "" {
			return m
		}
	}
	return ""
}

// poolOf returns the pool (imported or not) a disk belongs to.
func (w *World) poolOf(disk string) *Pool {
	for _, p := range w.S.Pools {
		for _, v := range p.VDevs {
			for _, d := range v.Disks {
				if d == disk {
					return p
				}
			}
		}
	}
	return nil
}

// mkdirMount creates a mounted dataset's directory in the Root.
func (w *World) mkdirMount(mp string) {
	if w.Root == nil || !strings.HasPrefix(mp, "/") {
		return
	}
	_ = w.Root.MkdirAll(path.Clean(mp), 0o755, host.Owner{})
}

func fail(code int, format string, a ...any) fakehost.Result {
	return fakehost.Fail(code, fmt.Sprintf(format, a...)+"\n")
}
