package zfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// blockDev is one device of `lsblk --json -b` output.
type blockDev struct {
	Name        string      `json:"name"`
	Path        string      `json:"path"`
	Type        string      `json:"type"`
	Mountpoints []*string   `json:"mountpoints"`
	FSType      *string     `json:"fstype"`
	PKName      *string     `json:"pkname"`
	UUID        *string     `json:"uuid"`
	Children    []*blockDev `json:"children"`
}

func (d *blockDev) fstype() string {
	if d.FSType == nil {
		return ""
	}
	return *d.FSType
}

func (d *blockDev) mounts() []string {
	var m []string
	for _, p := range d.Mountpoints {
		if p != nil && *p != "" {
			m = append(m, *p)
		}
	}
	return m
}

// walk calls f on d and every device below it (partitions, holders).
func (d *blockDev) walk(f func(*blockDev)) {
	f(d)
	for _, c := range d.Children {
		c.walk(f)
	}
}

// lsblkArgs is the one lsblk call: every device, bytes, JSON, the columns
// the checks need.
var lsblkArgs = []string{"--json", "-b", "-o", "NAME,PATH,TYPE,SIZE,MOUNTPOINTS,FSTYPE,PKNAME,UUID"}

// parseLsblk parses `lsblk --json` output.
func parseLsblk(out string) ([]*blockDev, error) {
	var v struct {
		BlockDevices []*blockDev `json:"blockdevices"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, fmt.Errorf("parse lsblk --json: %w", err)
	}
	return v.BlockDevices, nil
}

// diskState is everything the safety checks read, gathered once.
type diskState struct {
	devs     map[string]*blockDev // kernel name -> device (first seen)
	parent   map[string]string    // kernel name -> whole disk name
	disks    []*blockDev          // top-level devices
	imported map[string]string    // whole disk -> imported pool
	exported map[string]string    // whole disk -> pool in the import listing
	rootPool string               // pool holding / when the root is on ZFS
	bootESPs map[string]bool      // UUIDs of proxmox-boot-tool ESPs
}

func (r *run) readDisks(ctx context.Context, imported, exported []poolInfo) (*diskState, error) {
	out, err := r.cmd(ctx, LsblkCmd, lsblkArgs...)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	top, err := parseLsblk(out)
	if err != nil {
		return nil, err
	}
	st := &diskState{devs: map[string]*blockDev{}, parent: map[string]string{}, disks: top,
		imported: map[string]string{}, exported: map[string]string{}, bootESPs: map[string]bool{}}
	for _, d := range top {
		d.walk(func(c *blockDev) {
			if _, seen := st.devs[c.Name]; !seen {
				st.devs[c.Name] = c
				st.parent[c.Name] = d.Name
			}
		})
	}
	for _, p := range imported {
		for _, dn := range p.allDisks() {
			st.imported[r.wholeDisk(st, dn)] = p.Name
		}
	}
	for _, p := range exported {
		for _, dn := range p.allDisks() {
			st.exported[r.wholeDisk(st, dn)] = p.Name
		}
	}
	st.rootPool = r.rootPool()
	if b, err := r.Env.Root.ReadFile(BootUUIDsFile); err == nil {
		for _, u := range strings.Fields(string(b)) {
			st.bootESPs[strings.ToLower(u)] = true
		}
	}
	return st, nil
}

// rootPool returns the pool of the root filesystem when it is on ZFS.
func (r *run) rootPool() string {
	b, err := r.Env.Root.ReadFile(MountsFile)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "/" && f[2] == "zfs" {
			p, _, _ := strings.Cut(f[0], "/")
			return p
		}
	}
	return ""
}

// resolve follows a device path's symlinks through the Root (by-id links
// point at ../../sdX) and returns the kernel name ("sdb"), or "" when the
// path does not exist.
func (r *run) resolve(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = path.Join(ByIDDir, p)
	}
	for i := 0; i < 8; i++ {
		fi, err := r.Env.Root.Lstat(p)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path.Base(p)
		}
		t, err := r.Env.Root.Readlink(p)
		if err != nil {
			return ""
		}
		if !strings.HasPrefix(t, "/") {
			t = path.Join(path.Dir(p), t)
		}
		p = t
	}
	return ""
}

// wholeDisk maps a pool member as zpool prints it (/dev/sdb1, ata-X-part1,
// sdb) to the kernel name of its whole disk.
func (r *run) wholeDisk(st *diskState, name string) string {
	k := ""
	if strings.HasPrefix(name, "/") {
		k = r.resolve(name)
	} else if k = r.resolve(path.Join(ByIDDir, name)); k == "" {
		k = r.resolve("/dev/" + name)
	}
	if k == "" {
		k = path.Base(name)
	}
	if p, ok := st.parent[k]; ok {
		return p
	}
	return k
}

// diskPath is the seed's name of a disk as a device path.
func diskPath(d string) string {
	if strings.HasPrefix(d, "/") {
		return d
	}
	return path.Join(ByIDDir, d)
}

// checkDisks is the safety gate: it returns the whole-disk devices of the
// pool, or an error naming every disk that failed and the check it failed.
// Only partitions and signatures are allowed through, and only with wipe.
//
// leftovers admits what an interrupted `zpool create` of this pool leaves
// on disks the gate passed before (see creating): a GPT with the data
// partition and the reserved one, with or without a ZFS label.
func (r *run) checkDisks(st *diskState, poolName string, disks []string, wipe, leftovers bool) ([]*blockDev, error) {
	var devs []*blockDev
	var problems []string
	seen := map[string]string{}
	for _, d := range disks {
		p := diskPath(d)
		fail := func(format string, a ...any) {
			problems = append(problems, fmt.Sprintf("disk %s: %s", p, fmt.Sprintf(format, a...)))
		}
		k := r.resolve(p)
		if k == "" {
			fail("does not exist")
			continue
		}
		dev := st.devs[k]
		if dev == nil {
			fail("%s is not a block device lsblk knows", k)
			continue
		}
		if dev.Type != "disk" || st.parent[k] != k {
			fail("%s is a %s, not a whole disk", k, dev.Type)
			continue
		}
		if other, dup := seen[k]; dup {
			fail("is the same disk (%s) as %s", k, other)
			continue
		}
		seen[k] = p
		for _, msg := range diskProblems(st, dev, wipe || leftovers && zpoolLeftovers(dev)) {
			fail("(%s) %s", k, msg)
		}
		if h := r.holders(dev); len(h) > 0 {
			fail("(%s) is held by %s (/sys/block holders: device-mapper, LVM or md)", k, strings.Join(h, ", "))
		}
		devs = append(devs, dev)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("pool %q: refusing to use its disks:\n  %s", poolName, strings.Join(problems, "\n  "))
	}
	return devs, nil
}

// bootMounts are mountpoints whose disk is never given to ZFS.
var bootMounts = map[string]string{
	"/": "root", "/boot": "boot", "/boot/efi": "boot", "/efi": "boot", "/usr": "root", "/var": "root",
}

// memberTypes are signatures of a disk that belongs to another storage
// stack: never wiped, even with wipe: true.
var memberTypes = map[string]string{
	"mpath_member":   "a multipath member",
	"ceph_bluestore": "a Ceph OSD",
	"bcache":         "a bcache device",
	"drbd":           "a DRBD device",
}

// diskProblems lists why disk may not be used. The first checks hold even
// with wipe: a disk in use is never wiped.
func diskProblems(st *diskState, disk *blockDev, wipe bool) []string {
	var p []string
	var parts, sigs []string
	disk.walk(func(d *blockDev) {
		for _, m := range d.mounts() {
			switch {
			case bootMounts[m] != "":
				p = append(p, fmt.Sprintf("holds the %s filesystem (%s on %s)", bootMounts[m], m, d.Name))
			case m == "[SWAP]":
				p = append(p, fmt.Sprintf("is in use as swap (%s)", d.Name))
			default:
				p = append(p, fmt.Sprintf("is mounted (%s on %s)", d.Name, m))
			}
		}
		if d.UUID != nil && st.bootESPs[strings.ToLower(*d.UUID)] {
			p = append(p, fmt.Sprintf("holds a boot partition (%s is in %s)", d.Name, BootUUIDsFile))
		}
		switch fst := d.fstype(); {
		case fst == "LVM2_member":
			p = append(p, fmt.Sprintf("is an LVM physical volume (%s)", d.Name))
		case fst == "linux_raid_member" || strings.HasPrefix(d.Type, "raid"):
			p = append(p, fmt.Sprintf("is part of an md RAID array (%s)", d.Name))
		case memberTypes[fst] != "":
			p = append(p, fmt.Sprintf("is %s (%s)", memberTypes[fst], d.Name))
		case d != disk && d.Type != "part":
			// Anything stacked on the disk (dm, lvm, crypt, mpath, bcache)
			// is a user of it.
			p = append(p, fmt.Sprintf("is held by %s (%s)", d.Name, d.Type))
		case fst == "zfs_member":
			// A label of a pool no listing shows: a stale signature.
			if st.imported[disk.Name] == "" && st.exported[disk.Name] == "" {
				sigs = append(sigs, fmt.Sprintf("%s on %s", fst, d.Name))
			}
		case fst != "":
			sigs = append(sigs, fmt.Sprintf("%s on %s", fst, d.Name))
		}
		if d.Type == "part" {
			parts = append(parts, d.Name)
		}
	})
	if pool := st.imported[disk.Name]; pool != "" {
		what := "imported pool"
		if pool == st.rootPool {
			what = "root filesystem's pool"
		}
		p = append(p, fmt.Sprintf("is part of the %s %q", what, pool))
	}
	if pool := st.exported[disk.Name]; pool != "" {
		p = append(p, fmt.Sprintf("is part of the exported pool %q (listed by zpool import; import or destroy it by hand)", pool))
	}
	if wipe {
		return dedupe(p)
	}
	if len(parts) > 0 {
		p = append(p, fmt.Sprintf("carries partitions %s (set wipe: true on the pool to erase them)", strings.Join(parts, ", ")))
	}
	if len(sigs) > 0 {
		p = append(p, fmt.Sprintf("carries signatures %s (set wipe: true on the pool to erase them)", strings.Join(sigs, ", ")))
	}
	return dedupe(p)
}

// zpoolLeftovers reports whether all a disk carries is what `zpool create`
// writes to a whole disk before the pool exists: an EFI label with
// partition 1 for data and partition 9 (EFI_MIN_RESV_SIZE, V_RESERVED),
// then the ZFS labels in partition 1 (openzfs
// lib/libzfs/os/linux/libzfs_pool_os.c:202-307, zpool_label_disk:
// efi_parts[0] and efi_parts[8]). Seen in
// the e2e VM after a power cut during `zpool create`: vda1 and vda9, no
// pool to import (docs/perf/powercut.md).
func zpoolLeftovers(disk *blockDev) bool {
	if disk.fstype() != "" || len(disk.Children) > 2 {
		return false
	}
	for _, c := range disk.Children {
		if c.Type != "part" || len(c.Children) > 0 || len(c.mounts()) > 0 {
			return false
		}
		if f := c.fstype(); f != "" && f != "zfs_member" {
			return false
		}
	}
	return true
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// holders returns the sysfs holders of a disk and its partitions, read
// through the Root (device-mapper and md hold their members here even when
// lsblk was given no children).
func (r *run) holders(disk *blockDev) []string {
	var out []string
	names := []string{disk.Name}
	for _, c := range disk.Children {
		names = append(names, disk.Name+"/"+c.Name)
	}
	for _, n := range names {
		ents, err := r.Env.Root.ReadDir("/sys/block/" + n + "/holders")
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				out = append(out, fmt.Sprintf("?(%v)", err))
			}
			continue
		}
		for _, e := range ents {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// wipe erases partitions and signatures of disks the safety gate passed:
// signatures inside each partition first (so no stale pool label can be
// found again), then the disk's own, then the GPT with its backup.
func (r *run) wipe(ctx context.Context, poolName string, seedPath string, disk *blockDev) error {
	if len(disk.Children) == 0 && disk.fstype() == "" {
		return nil
	}
	return r.Do(fmt.Sprintf("wipe disk %s (%s) for pool %s", seedPath, disk.Name, poolName), func() error {
		for _, c := range disk.Children {
			if _, err := r.cmd(ctx, WipefsCmd, "-a", c.Path); err != nil {
				return fmt.Errorf("pool %q: wipe %s: %w", poolName, c.Path, err)
			}
		}
		if _, err := r.cmd(ctx, WipefsCmd, "-a", seedPath); err != nil {
			return fmt.Errorf("pool %q: wipe %s: %w", poolName, seedPath, err)
		}
		if _, err := r.cmd(ctx, SgdiskCmd, "--zap-all", seedPath); err != nil {
			return fmt.Errorf("pool %q: zap GPT of %s: %w", poolName, seedPath, err)
		}
		return nil
	})
}
