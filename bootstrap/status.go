package bootstrap

import (
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// State is the state of a run or of one module.
type State string

// Module and run states. Runs are additionally rebooting, invalid
// (the seed did not validate) or disabled.
const (
	Pending   State = "pending"
	Running   State = "running"
	Done      State = "done"
	Failed    State = "failed"
	Skipped   State = "skipped"
	Rebooting State = "rebooting"
	Invalid   State = "invalid"
	Disabled  State = "disabled"
)

// Status is status.json: what `phoenix status` shows.
type Status struct {
	State    State          `json:"state"`
	Version  string         `json:"version,omitempty"`
	BootID   string         `json:"boot_id,omitempty"`
	Seed     SeedInfo       `json:"seed,omitzero"`
	Started  time.Time      `json:"started,omitzero"`
	Updated  time.Time      `json:"updated,omitzero"`
	Finished time.Time      `json:"finished,omitzero"`
	Progress string         `json:"progress,omitempty"`
	Error    string         `json:"error,omitempty"`
	Modules  []ModuleStatus `json:"modules"`
	// Startup is where the last run that started a module spent its time
	// before that module (phoenix status --timings).
	Startup *Startup `json:"startup,omitempty"`
	// CPU is what that run cost in CPU time, Phoenix's and its
	// commands' (phoenix status --timings).
	CPU *RunCPU `json:"cpu,omitempty"`
	// Unmanaged lists modules that have a marker but are no longer in the
	// seed: Phoenix leaves what they did in place.
	Unmanaged []string `json:"unmanaged,omitempty"`
}

// SeedInfo says which seed a run used.
type SeedInfo struct {
	Origin string `json:"origin,omitempty"` // where it was found
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest,omitempty"` // sha256 of the seed bytes
}

// ModuleStatus is one module's line in status.
type ModuleStatus struct {
	Name     string         `json:"name"`
	State    State          `json:"state"`
	Detail   string         `json:"detail,omitempty"`
	Digest   string         `json:"digest,omitempty"`
	Started  time.Time      `json:"started,omitzero"`
	Finished time.Time      `json:"finished,omitzero"`
	Seconds  float64        `json:"seconds,omitempty"`
	Reboots  int            `json:"reboots,omitempty"`
	Changed  []string       `json:"changed,omitempty"`
	Notes    []string       `json:"notes,omitempty"`
	Failure  *Failure       `json:"failure,omitempty"`
	Items    []modules.Item `json:"items,omitempty"`
	// Commands: what the module's external commands took (the last run
	// that applied it), for `phoenix status --timings`.
	Commands *Commands `json:"commands,omitempty"`
	// CPUSeconds is Phoenix's own CPU time while the module ran (user and
	// system; its commands' is Commands.CPUSeconds), in the boot that
	// finished it: all Phoenix's threads for a module run alone, the
	// module's own thread for one run beside others (the early stage),
	// which leaves out the Go runtime's threads (RunCPU counts them). Where wall time is waiting and where it
	// is work: at boot the CPUs are shared with the boot's services.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
}

// Startup is the time a run spent before its first module, in the
// phases a user can act on: process start (fork to main: a slow disk or a
// busy CPU at boot), the seed (finding the volume, reading and validating
// it) and the engine (lock, bundle, state files). Seconds; zero where
// /proc cannot say.
type Startup struct {
	Stage   string  `json:"stage,omitempty"` // "early" for phoenix-local.service
	Process float64 `json:"process_seconds"`
	// Of Process, the main thread's time on a CPU and waiting for one
	// (/proc/self/schedstat); the rest of it the thread was blocked.
	ProcessCPU  float64 `json:"process_cpu_seconds,omitempty"`
	ProcessWait float64 `json:"process_runqueue_seconds,omitempty"`
	Seed        float64 `json:"seed_seconds"`
	Engine      float64 `json:"engine_seconds"`
}

// RunCPU is a run's CPU time (user and system, seconds) up to its last
// status write: Phoenix's process from its start, all its threads (the Go
// runtime's too, and what it spent before main), and the commands it ran
// and waited for (getrusage(2), RUSAGE_SELF and RUSAGE_CHILDREN). At boot
// the CPUs are shared with the boot's services, so this is what the run
// took from them.
type RunCPU struct {
	Phoenix  float64 `json:"phoenix_seconds"`
	Commands float64 `json:"commands_seconds"`
}

// Total is the whole time before the first module.
func (s Startup) Total() float64 { return s.Process + s.Seed + s.Engine }

// Failure is why a module failed: the error and, when a command failed,
// that command (argv only), its exit code and the end of its stderr.
type Failure struct {
	Error    string `json:"error"`
	Command  string `json:"command,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	Stderr   string `json:"stderr,omitempty"`
}

// ReadStatus reads status.json; found is false before the first run.
func ReadStatus(r host.Root) (st Status, found bool, err error) {
	found, err = readJSON(r, StatusFile, &st)
	return st, found, err
}

// ExitCode maps a run state to `phoenix status` exit codes: 0 done, 1
// failed or invalid, 2 anything still to do.
func (s State) ExitCode() int {
	switch s {
	case Done:
		return 0
	case Failed, Invalid:
		return 1
	default:
		return 2
	}
}

// Terminal reports whether a run in this state will not progress without
// someone acting (a new seed, phoenix clean, a fix).
func (s State) Terminal() bool { return s == Done || s == Failed || s == Invalid || s == Disabled }

// Module returns the status of module name, or nil.
func (s Status) Module(name string) *ModuleStatus {
	for i := range s.Modules {
		if s.Modules[i].Name == name {
			return &s.Modules[i]
		}
	}
	return nil
}
