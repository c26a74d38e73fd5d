package svc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/units"
)

// BootJob is the Job of a state Early inferred: the boot's own start job,
// which systemd holds back until the early stage ends.
const BootJob = "boot"

// quickWait is how long Early waits for systemd's answer before it falls
// back on what the boot implies. On a host whose PID 1 is not busy the
// answer takes milliseconds.
const quickWait = 250 * time.Millisecond

// Early reads a unit's state in the early stage (phoenix-local.service,
// ordered Before= the unit). systemd answers D-Bus only between the unit
// starts of basic.target, which run beside the stage: in the comparison
// VM a query waited 3-6 s for that burst to end (docs/perf/e2e.md), and
// smbd and nfs-server wait for the stage. So Early asks briefly; if
// systemd has not answered within quickWait, and the unit is enabled (a
// wants link in /etc/systemd/system, which is what `systemctl enable`
// makes), not masked, and not running (its cgroup has no process, and extra, if given,
// says so too), the boot's start job for it is queued behind the stage:
// systemd started the boot's transaction with both, and the early unit's
// Before= holds the service back until the stage ends. That is the state
// returned, with Job BootJob. Otherwise Early waits for the full answer
// (Show).
//
// What this cannot see: a unit enabled and stopped, with no job, on a
// system whose PID 1 is busy for quickWait while someone starts
// phoenix.service by hand. Its start is then left to the next boot.
func Early(ctx context.Context, root host.Root, r host.Runner, unit string, extra func(host.Root) (bool, error)) (State, error) {
	if !host.IsLive(root) || !host.SystemdBooted() {
		return Show(ctx, root, r, unit)
	}
	qctx, cancel := context.WithTimeout(ctx, quickWait)
	s, err := showDBus(qctx, unit)
	cancel()
	if err == nil {
		return s, nil
	}
	if s, ok := atBoot(root, unit, extra); ok {
		return s, nil
	}
	return Show(ctx, root, r, unit)
}

// atBoot is the state the boot implies for unit, if it can tell: enabled,
// not running, its start queued behind the early stage.
func atBoot(root host.Root, unit string, extra func(host.Root) (bool, error)) (State, bool) {
	// `systemctl mask` leaves the wants links in place: a masked unit has
	// no start job to rely on, and systemd's answer says "masked".
	if masked(root, unit) {
		return State{}, false
	}
	if enabled, err := units.IsEnabled(root, unit); err != nil || !enabled {
		return State{}, false
	}
	if running, err := hasProcesses(root, unit); err != nil || running {
		return State{}, false
	}
	if extra != nil {
		if running, err := extra(root); err != nil || running {
			return State{}, false
		}
	}
	return State{Active: "inactive", UnitFile: "enabled", Job: BootJob}, true
}

// masked reports whether unit is masked where `systemctl mask` puts it
// (/etc/systemd/system, or /run/systemd/system with --runtime): a link to
// /dev/null, or an empty file, which systemd also reads as masked
// (systemd.unit(5), "Unit File Load Path"). Anything unreadable counts as
// masked, so that the caller asks systemd.
func masked(root host.Root, unit string) bool {
	for _, dir := range []string{units.Dir, "/run/systemd/system"} {
		p := path.Join(dir, unit)
		fi, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return true
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := root.Readlink(p)
			if err != nil || target == "/dev/null" {
				return true
			}
			continue
		}
		if fi.Mode().IsRegular() && fi.Size() == 0 {
			return true
		}
	}
	return false
}

// cgroupRoot is the unified cgroup hierarchy systemd manages; a service
// of the default slice has its processes in system.slice/UNIT
// (systemd.special(7), system.slice; systemd.resource-control(5)).
const cgroupRoot = "/sys/fs/cgroup"

// hasProcesses reports whether unit's cgroup holds a process: a service
// that is starting, running, reloading or stopping has one; a stopped one
// has none, and systemd removes its cgroup. An error means it cannot tell:
// no unified hierarchy (cgroup v1), or the file unreadable.
func hasProcesses(root host.Root, unit string) (bool, error) {
	if !host.Exists(root, path.Join(cgroupRoot, "cgroup.controllers")) {
		return false, errors.New("svc: no unified cgroup hierarchy")
	}
	b, err := root.ReadFile(path.Join(cgroupRoot, "system.slice", unit, "cgroup.procs"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) != "", nil
}

// StartQueued reports whether st, from Early, already has the unit
// starting once the stage ends: enabled, with a job (the boot's start job,
// BootJob, or one systemd named). QueueStart then has nothing to do, and
// nothing is recorded as changed.
func StartQueued(st State) bool { return st.Enabled() && st.Job != "" }

// StartJob names st's job for a log line: "the boot's start job", or
// "start job N" for the id systemd gave.
func StartJob(st State) string {
	if st.Job == BootJob {
		return "the boot's start job"
	}
	return "start job " + st.Job
}

// QueueStart makes a unit the early unit is ordered before start once the
// stage ends, given its state st from Early: it enables a unit that is not
// enabled, and queues a start where no job is (--no-block: the start
// waits for the stage itself, so waiting for it would never end). The
// service reads its new configuration when that start runs. For the
// boot's own job (BootJob) there is nothing to do.
func QueueStart(ctx context.Context, r host.Runner, unit string, st State) error {
	if st.Job == BootJob {
		return nil
	}
	if !st.Enabled() {
		if _, err := r.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"enable", unit}}); err != nil {
			return fmt.Errorf("enable %s: %w", unit, err)
		}
	}
	if st.Job == "" {
		if _, err := r.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"start", "--no-block", unit}}); err != nil {
			return fmt.Errorf("start %s: %w", unit, err)
		}
	}
	return nil
}
