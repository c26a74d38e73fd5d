package svc

import (
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/units"
)

type atBootCase struct {
	name    string
	root    host.Root
	extra   func(host.Root) (bool, error)
	want    bool
	comment string
}

// TestAtBoot: the state the boot implies is inferred only for a unit that
// is enabled and has no process, and that extra (a service's own sign of
// running) does not contradict; anything else leaves the answer to systemd.
func TestAtBoot(t *testing.T) {
	const unit = "smbd.service"
	world := func(t *testing.T, enabled bool, procs string, unified bool) host.Root {
		root := host.NewDirRoot(t.TempDir())
		w := func(p, data string) {
			if err := root.WriteFile(p, []byte(data), 0o644, host.Owner{}); err != nil {
				t.Fatal(err)
			}
		}
		w("/usr/lib/systemd/system/"+unit, "[Unit]\n[Install]\nWantedBy=multi-user.target\n")
		if enabled {
			if err := root.MkdirAll(units.Dir+"/multi-user.target.wants", 0o755, host.Owner{}); err != nil {
				t.Fatal(err)
			}
			if err := root.Symlink("/usr/lib/systemd/system/"+unit, units.Dir+"/multi-user.target.wants/"+unit); err != nil {
				t.Fatal(err)
			}
		}
		if unified {
			w(cgroupRoot+"/cgroup.controllers", "cpu memory pids\n")
		}
		if procs != "" {
			w(cgroupRoot+"/system.slice/"+unit+"/cgroup.procs", procs)
		}
		return root
	}
	cases := []atBootCase{
		{"enabled, stopped", world(t, true, "", true), nil, true, "the boot's job is behind the stage"},
		{"enabled, empty cgroup", world(t, true, "\n", true), nil, true, "a cgroup without a process"},
		{"enabled, running", world(t, true, "412\n413\n", true), nil, false, "processes in its cgroup"},
		{"disabled", world(t, false, "", true), nil, false, "no boot job"},
		{"cgroup v1", world(t, true, "", false), nil, false, "cannot tell"},
		{"extra says running", world(t, true, "", true), func(host.Root) (bool, error) { return true, nil }, false, "nfsd threads"},
		{"extra says stopped", world(t, true, "", true), func(host.Root) (bool, error) { return false, nil }, true, ""},
	}
	maskedLink := world(t, true, "", true)
	if err := maskedLink.Symlink("/dev/null", units.Dir+"/"+unit); err != nil {
		t.Fatal(err)
	}
	maskedEmpty := world(t, true, "", true)
	if err := maskedEmpty.WriteFile("/run/systemd/system/"+unit, nil, 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	override := world(t, true, "", true)
	if err := override.WriteFile(units.Dir+"/"+unit, []byte("[Service]\nExecStart=/bin/true\n"), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	cases = append(cases,
		atBootCase{"masked, wants link left", maskedLink, nil, false, "systemctl mask keeps the wants link"},
		atBootCase{"masked at runtime (empty file)", maskedEmpty, nil, false, "an empty unit file is masked"},
		atBootCase{"an admin's own unit file", override, nil, true, "not a mask"},
	)
	for _, c := range cases {
		s, ok := atBoot(c.root, unit, c.extra)
		if ok != c.want {
			t.Errorf("%s: atBoot ok = %v, want %v (%s)", c.name, ok, c.want, c.comment)
		}
		if ok && (s.Running() || !s.Enabled() || s.Job != BootJob) {
			t.Errorf("%s: state %+v, want inactive, enabled, the boot's job", c.name, s)
		}
	}
}

// TestStartQueued: an enabled unit with a job starts once the stage ends
// (QueueStart does nothing for it); a disabled one, or one without a job,
// still needs QueueStart. StartJob names the job for the log.
func TestStartQueued(t *testing.T) {
	cases := []struct {
		st   State
		want bool
		job  string
	}{
		{State{Active: "inactive", UnitFile: "enabled", Job: BootJob}, true, "the boot's start job"},
		{State{Active: "inactive", UnitFile: "enabled", Job: "42"}, true, "start job 42"},
		{State{Active: "inactive", UnitFile: "disabled", Job: "42"}, false, "start job 42"},
		{State{Active: "inactive", UnitFile: "enabled"}, false, ""},
	}
	for _, c := range cases {
		if got := StartQueued(c.st); got != c.want {
			t.Errorf("StartQueued(%+v) = %v, want %v", c.st, got, c.want)
		}
		if c.job != "" {
			if got := StartJob(c.st); got != c.job {
				t.Errorf("StartJob(%+v) = %q, want %q", c.st, got, c.job)
			}
		}
	}
}
