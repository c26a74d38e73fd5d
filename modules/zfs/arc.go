package zfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/zfs/prop"
)

const (
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
		f, err := os.OpenFile(r.Env.Root.Path(ARCParam), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("set ARC limit live: %w", err)
		}
		if _, err := f.WriteString(strconv.FormatInt(n, 10) + "\n"); err != nil {
			f.Close()
			return fmt.Errorf("set ARC limit live: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("set ARC limit live: %w", err)
		}
		return nil
	})
}
