package zfs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// Command names and well-known paths, in one place.
const (
	ZpoolCmd     = "zpool"
	ZfsCmd       = "zfs"
	PvesmCmd     = "pvesm"
	SystemctlCmd = "systemctl"
	LsblkCmd     = "lsblk"
	WipefsCmd    = "wipefs"
	SgdiskCmd    = "sgdisk"
	UdevadmCmd   = "udevadm"

	ByIDDir       = "/dev/disk/by-id"
	ModprobeConf  = "/etc/modprobe.d/zfs.conf"
	ARCParam      = "/sys/module/zfs/parameters/zfs_arc_max"
	StorageCfg    = "/etc/pve/storage.cfg"
	MountsFile    = "/proc/mounts"
	BootUUIDsFile = "/etc/kernel/proxmox-boot-uuids"
	// ImportUnitTemplate is zfsutils-linux's per-pool import unit.
	ImportUnitTemplate = "/lib/systemd/system/zfs-import@.service"
)

// Module is the zfs module.
type Module struct{}

var _ modules.Module = (*Module)(nil)

// New returns the zfs module.
func New() *Module { return &Module{} }

// Name implements modules.Module.
func (*Module) Name() string { return "zfs" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.ZFS != nil }

// Converge implements modules.Module: it reads the pools, datasets,
// storages and the ARC limit and makes (dry: lists) each change. Unsafe
// disks are an error in a dry run too, so `phoenix plan` shows them before
// anything runs.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	return (&run{Steps: s}).converge(ctx)
}

// run is one Converge: the same reads, and actions that are either done
// or only listed.
type run struct {
	*modules.Steps
}

func (r *run) converge(ctx context.Context) error {
	z := r.Env.Seed.ZFS
	if err := r.arc(ctx, z.ARCMax); err != nil {
		return err
	}
	for i := range z.Pools {
		if err := r.pool(ctx, &z.Pools[i]); err != nil {
			return err
		}
	}
	if err := r.datasets(ctx); err != nil {
		return err
	}
	return r.storages(ctx)
}

// do records a change and, unless this is a Check, makes it.
// report records a pool's state for status; Check reports nothing.
func (r *run) report(it modules.Item) {
	if !r.Dry {
		r.Env.ReportItem(it)
	}
}

func (r *run) note(format string, a ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, a...))
}

// cmd runs an external command and returns its stdout.
func (r *run) cmd(ctx context.Context, name string, args ...string) (string, error) {
	out, err := r.Env.Runner.Run(ctx, host.Cmd{Name: name, Args: args})
	return string(out.Stdout), err
}

// stderrOf returns the stderr of a failed command ("" otherwise).
func stderrOf(err error) string {
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return ""
}

func sortedCSV(items []string) string {
	c := append([]string(nil), items...)
	sortStrings(c)
	return strings.Join(c, ",")
}
