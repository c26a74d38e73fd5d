// Package svc reads a systemd unit's state in one `systemctl show` call:
// what the samba and nfs modules need in the early stage, where each
// process start is on the service's way to starting.
package svc

import (
	"context"
	"fmt"
	"strings"

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

// Show runs `systemctl show -p ActiveState -p UnitFileState -p Job UNIT`.
func Show(ctx context.Context, r host.Runner, unit string) (State, error) {
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
