package zfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/zfs/prop"
)

const (
	// ARCStats is the ARC's kstat; its c_min row is the live arc_c_min.
	ARCStats = "/proc/spl/kstat/zfs/arcstats"
	// MemInfo gives MemTotal, the RAM arc_c_min derives from.
	MemInfo = "/proc/meminfo"
	// arcMinFloor is arc_c_min's floor, 2 << SPA_MAXBLOCKSHIFT = 32 MiB
	// (openzfs module/zfs/arc.c:8053; include/sys/fs/zfs.h:2104).
	arcMinFloor = 2 << 24

	arcBlock   = "zfs-arc"
	arcPending = "zfs/initramfs-pending"
	// minARC is the smallest zfs_arc_max ZFS honours (64 MiB); smaller
	// values are silently ignored by the module, so they are an error here.
	minARC = 64 << 20
)

// arc persists the ARC limit in /etc/modprobe.d/zfs.conf (a managed block:
// the admin's lines stay) and sets it live. With the root on ZFS the module
// options live in the initramfs, so that is rebuilt; a Store flag written
// before the file makes a crash between the two still rebuild it on rerun.
func (r *run) arc(ctx context.Context, arcMax string) error {
	pending := false
	if _, err := r.Env.Store.Get(arcPending, &pending); err != nil {
		return err
	}
	if arcMax != "" {
		n, err := prop.ParseSize(arcMax)
		if err != nil {
			return fmt.Errorf("arc_max: %w", err)
		}
		if n < minARC {
			return fmt.Errorf("arc_max: %s is below the 64M ZFS accepts", arcMax)
		}
		if err := r.arcAboveMin(arcMax, n); err != nil {
			return err
		}
		body := fmt.Sprintf("options zfs zfs_arc_max=%d\n", n)
		old, err := r.Env.Root.ReadFile(ModprobeConf)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w", ModprobeConf, err)
		}
		if got, _ := host.GetBlock(old, arcBlock); string(got) != body {
			if outside, _ := host.SetBlock(old, arcBlock, nil); strings.Contains(string(outside), "zfs_arc_max") {
				r.note("%s sets zfs_arc_max outside Phoenix's block too; Phoenix's block comes last and wins", ModprobeConf)
			}
			onZFS := r.rootPool() != ""
			if err := r.Do(fmt.Sprintf("persist zfs_arc_max=%d in %s", n, ModprobeConf), func() error {
				if onZFS {
					if err := r.Env.Store.Put(arcPending, true); err != nil {
						return err
					}
				}
				if _, err := host.EditBlock(r.Env.Root, ModprobeConf, arcBlock, []byte(body), 0o644); err != nil {
					return fmt.Errorf("write %s: %w", ModprobeConf, err)
				}
				return nil
			}); err != nil {
				return err
			}
			pending = pending || onZFS
		}
		if err := r.arcLive(n); err != nil {
			return err
		}
	}
	if !pending {
		return nil
	}
	return r.Do("update-initramfs -u -k all (root on ZFS: module options live in the initramfs)", func() error {
		if _, err := r.cmd(ctx, "update-initramfs", "-u", "-k", "all"); err != nil {
			return fmt.Errorf("update initramfs: %w", err)
		}
		return r.Env.Store.Delete(arcPending)
	})
}

// arcLive writes the limit to the loaded module's parameter. sysfs files
// cannot be replaced by rename, so this one write goes in place.
func (r *run) arcLive(n int64) error {
	b, err := r.Env.Root.ReadFile(ARCParam)
	if errors.Is(err, fs.ErrNotExist) {
		r.note("zfs module not loaded: zfs_arc_max applies when it loads")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", ARCParam, err)
	}
	if strings.TrimSpace(string(b)) == strconv.FormatInt(n, 10) {
		return nil
	}
	return r.Do(fmt.Sprintf("set zfs_arc_max=%d live", n), func() error {
		if err := host.WriteKernelFile(r.Env.Root, ARCParam, []byte(strconv.FormatInt(n, 10)+"\n")); err != nil {
			return fmt.Errorf("set ARC limit live: %w", err)
		}
		return nil
	})
}

// arcAboveMin refuses an arc_max OpenZFS would ignore on this host. A live
// change of zfs_arc_max (the sysfs write arcLive does) goes through
// arc_tuning_update, which takes it only when it is above arc_c_min
// (openzfs module/zfs/arc.c:7637-7640, at be7657e); otherwise the sysfs file
// shows the new value while the ARC keeps its old limit. pve-docs
// local-zfs.adoc:617-628 says the same. arc_c_min defaults to 1/32 of RAM,
// at least 32 MiB (arc.c:8053, arc_all_memory = total RAM pages,
// module/os/linux/zfs/arc_os.c:100-107). (At module load an option below
// arc_c_min is taken and arc_c_min lowered instead, arc.c:8084-8091, so a
// host rebooted with the modprobe.d line would use it; Phoenix refuses it
// anyway, since the run would report a limit that is not in effect.)
//
// arc_c_min is read live from the ARC's kstat when the module is loaded (it
// reflects a zfs_arc_min the admin set), else derived from MemTotal. With
// neither readable (an offline image) there is nothing to compare with.
func (r *run) arcAboveMin(arcMax string, n int64) error {
	cmin, from := r.arcMin()
	if cmin == 0 || n > cmin {
		return nil
	}
	least := (cmin/(1<<20) + 1) // whole MiB above arc_c_min
	return fmt.Errorf("arc_max: %s (%d bytes) is at or below this host's arc_c_min of %d bytes (%s); OpenZFS ignores such a limit (module/zfs/arc.c:7637-7640), so it would not take effect. The smallest arc_max that works here is %dM, or set zfs_arc_min lower first (pve-docs local-zfs.adoc:617-628)",
		arcMax, n, cmin, from, least)
}

// arcMin is the host's arc_c_min and where it came from, 0 if unknown.
func (r *run) arcMin() (int64, string) {
	if b, err := r.Env.Root.ReadFile(ARCStats); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "c_min" {
				if v, err := strconv.ParseInt(f[2], 10, 64); err == nil {
					return v, "c_min in " + ARCStats
				}
			}
		}
	}
	b, err := r.Env.Root.ReadFile(MemInfo)
	if err != nil {
		return 0, ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, ""
			}
			return max(kb*1024/32, arcMinFloor), fmt.Sprintf("1/32 of MemTotal %d kB in %s", kb, MemInfo)
		}
	}
	return 0, ""
}
