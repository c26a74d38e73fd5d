package modules

import (
	"context"
	"log/slog"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
)

// Module is one provisioning step. Name is also its seed key and its marker
// name. Converge is the module's one way to work: it reads the real state
// and makes each change through Steps.Do, which performs it (Apply) or only
// lists it (Check, `phoenix plan`: Steps.Dry). Because plan and apply are
// the same code, a plan cannot list other changes than Apply makes. Apply
// must be idempotent: safe to repeat after a crash at any point; a dry run
// must only read. Errors are not prefixed with the module's name: the
// engine adds it.
type Module interface {
	Name() string
	// Active reports whether the seed has work for this module (usually:
	// its section is present).
	Active(s *seed.Seed) bool
	// Converge converges the host to the seed, or in a dry run lists what
	// that would change.
	Converge(ctx context.Context, s *Steps) error
}

// Early is implemented by a module that can do a seed's work before the
// network is up, in phoenix-local.service (the early stage, ordered like
// cloud-init-local: before smbd, nfs-server and phoenix.service). Early
// reports whether it can for this seed on this host (no package to fetch,
// no Proxmox service to talk to) and, when it cannot, why. It only reads,
// and only what no other early module writes: the engine asks every
// module of the stage before it runs any. It runs the seed's modules in
// the early stage up to the first one that cannot (beside each other where
// Concurrent allows), and leaves that one and the rest to
// phoenix.service, after network-online.target.
type Early interface {
	Early(ctx context.Context, env *Env) (ok bool, why string)
}

// Concurrent is implemented by an early module that may run in the early
// stage at the same time as some of the modules before it. Alongside
// names those modules, for this seed on this host: the ones whose work it
// neither needs nor changes the outcome of (users for a share owned by
// root is one; users for a share owned by a seed user is not). Like Early
// it only reads, and only what the stage's modules do not write. The
// engine starts the module once every earlier module of the stage not
// named here is done. A module without the method waits for all of them:
// a name not listed is a module to wait for, so a module added to the
// order later is never run beside one that did not say so.
type Concurrent interface {
	Alongside(ctx context.Context, env *Env) []string
}

// Result is what Apply did.
type Result struct {
	// Changed lists what was changed, for the marker and status. Never
	// secrets.
	Changed []string
	// Notes are informational lines for status (e.g. "no GPU: skipped").
	Notes []string
	// Reboot asks the engine to persist the cursor and reboot; Apply runs
	// again after the reboot and must then verify and finish.
	Reboot bool
	Reason string
}

// Env is what a module runs against. Modules reach the host only through
// Runner and Root.
type Env struct {
	Seed   *seed.Seed
	Runner host.Runner
	Root   host.Root
	// Store keeps a module's own progress across runs and reboots (phases,
	// per-container steps, facts like device majors for other modules).
	Store *Store
	// Bundle is the directory (a real path on this machine) holding the
	// files the seed refers to (scripts, runfiles, templates), copied from
	// the seed volume; "" when there is none.
	Bundle string
	Log    *slog.Logger
	// Progress shows a short line in systemctl status ("creating pool tank").
	Progress func(msg string)
	// Report records the state of one item of the module (a container, a
	// pool) for status.
	Report func(Item)
	// Select, when non-empty, limits the module to these items (e.g. CTIDs
	// for `phoenix lxc 101`). The engine writes no module marker then.
	Select []string
	// BootID is the current boot's id, for records.
	BootID string
	// InRoot is set when commands run inside Root (chroot into an offline
	// root) rather than on the machine that sees Root under a prefix.
	InRoot bool
	// EarlyStage is set in the early stage (see Early): the services the
	// early unit is ordered before (smbd, nfs-server) cannot start until
	// the stage ends, so a module never waits for their start there; it
	// queues it (systemctl start --no-block), or leaves it to the boot's
	// start job (svc.Early), and the service reads the new configuration
	// when it starts.
	EarlyStage bool
}

// CmdPath is the path a command must be given for the in-root path p: p
// itself when commands run inside the root, else the real path.
func (e *Env) CmdPath(p string) string {
	if e.InRoot {
		return p
	}
	return e.Root.Path(p)
}

// Item is the state of one part of a module's work.
type Item struct {
	Name     string    `json:"name"`
	State    string    `json:"state"` // pending, running, done, failed, skipped
	Detail   string    `json:"detail,omitempty"`
	Started  time.Time `json:"started,omitempty"`
	Finished time.Time `json:"finished,omitempty"`
}

// Say calls Progress if set.
func (e *Env) Say(msg string) {
	if e.Progress != nil {
		e.Progress(msg)
	}
	if e.Log != nil {
		e.Log.Info(msg)
	}
}

// ReportItem calls Report if set.
func (e *Env) ReportItem(it Item) {
	if e.Report != nil {
		e.Report(it)
	}
}
