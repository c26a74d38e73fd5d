// Package svc reads a systemd unit's state: what the samba and nfs
// modules need in the early stage, where each process start, and each
// wait for systemd, is on the service's way to starting.
package svc

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// State is the part of a unit's state the modules act on.
type State struct {
	Active   string // ActiveState: active, inactive, activating, failed, ...
	UnitFile string // UnitFileState: enabled, disabled, static, ...
	// Job is the id of the unit's queued or running job, "" for none
	// (systemctl prints the job's id, or an empty or no Job= line).
	Job string
}

// Running reports whether the unit is up or on its way up: its
// configuration was read already, or is being read.
func (s State) Running() bool {
	switch s.Active {
	case "active", "activating", "reloading", "refreshing":
		return true
	}
	return false
}

// Enabled reports whether the unit starts at boot.
func (s State) Enabled() bool { return s.UnitFile == "enabled" || s.UnitFile == "enabled-runtime" }

// Show reads the unit's state. On the running system (root is "/" and
// systemd is PID 1) Phoenix's own process asks systemd over its private
// D-Bus socket, the one systemctl uses as root: one connection, one
// Properties.GetAll of the unit's org.freedesktop.systemd1.Unit interface.
// That saves starting systemctl and the libsystemd-shared it loads, not
// the wait for PID 1's answer (see Early). Anywhere else (an offline
// root, tests), or when the socket does not answer, it runs
// `systemctl show -p ActiveState -p UnitFileState -p Job UNIT`, whose
// error is the one reported.
func Show(ctx context.Context, root host.Root, r host.Runner, unit string) (State, error) {
	if host.IsLive(root) && host.SystemdBooted() {
		if s, err := showDBus(ctx, unit); err == nil {
			return s, nil
		}
	}
	return showSystemctl(ctx, r, unit)
}

// unitInterface holds ActiveState, UnitFileState and Job (systemd's
// org.freedesktop.systemd1(5), "Unit Objects").
const unitInterface = "org.freedesktop.systemd1.Unit"

// showDBus asks systemd directly, without a dbus-daemon (none runs this
// early; its socket would hold the call until it starts): the private
// socket, EXTERNAL authentication by uid, no Hello, as go-systemd's
// NewSystemdConnectionContext, but one connection where go-systemd opens
// two and subscribes to job signals.
func showDBus(ctx context.Context, unit string) (State, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := dbus.Dial("unix:path=/run/systemd/private", dbus.WithContext(ctx))
	if err != nil {
		return State{}, err
	}
	defer conn.Close()
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		return State{}, err
	}
	var props map[string]dbus.Variant
	path := dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(unit))
	if err := conn.Object("org.freedesktop.systemd1", path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, unitInterface).Store(&props); err != nil {
		return State{}, err
	}
	return fromProps(props)
}

// fromProps reads the three properties of a GetAll answer. Job is the
// struct (uo): the job's id, 0 for none, and its object path.
func fromProps(props map[string]dbus.Variant) (State, error) {
	var s State
	var ok bool
	if s.Active, ok = props["ActiveState"].Value().(string); !ok {
		return State{}, fmt.Errorf("systemd: no ActiveState in %d properties", len(props))
	}
	s.UnitFile, _ = props["UnitFileState"].Value().(string)
	if job, ok := props["Job"].Value().([]any); ok && len(job) == 2 {
		if id, ok := job[0].(uint32); ok && id != 0 {
			s.Job = strconv.FormatUint(uint64(id), 10)
		}
	}
	return s, nil
}

// showSystemctl runs `systemctl show -p ActiveState -p UnitFileState -p Job UNIT`.
func showSystemctl(ctx context.Context, r host.Runner, unit string) (State, error) {
	out, err := r.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"show", "-p", "ActiveState", "-p", "UnitFileState", "-p", "Job", unit}})
	if err != nil {
		return State{}, fmt.Errorf("systemctl show %s: %w", unit, err)
	}
	var s State
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "ActiveState":
			s.Active = v
		case "UnitFileState":
			s.UnitFile = v
		case "Job":
			if v != "0" {
				s.Job = v
			}
		}
	}
	return s, nil
}
