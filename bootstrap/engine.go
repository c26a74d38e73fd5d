package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// Defaults for Options fields left zero.
const (
	DefaultRebootLimit   = 3
	DefaultLockWait      = 30 * time.Second
	DefaultModuleTimeout = 4 * time.Hour
)

// Options is one engine run. Root, Runner, Modules and either Seed or
// SeedErr are required; the rest defaults for production.
type Options struct {
	Root    host.Root
	Runner  host.Runner
	Modules []modules.Module // in run order

	Seed       *seed.Seed
	SeedName   string // file name, e.g. "seed.yaml" (picks the copy's extension)
	SeedData   []byte // the bytes to keep a copy of; nil marshals Seed
	SeedOrigin string // where the seed was found, for status
	// SeedErr, when set, is why the seed could not be found or loaded: the
	// run records it (status "invalid"), shows the banner and runs nothing.
	SeedErr error
	Bundle  string // real directory with the seed's referenced files
	// Prepare, when set, runs once the lock is held and before anything
	// else: it copies the seed's bundle into the state directory and
	// returns that directory (Bundle). Under the lock, so a run in progress
	// never has its scripts replaced by another seed's. Its error is
	// recorded like SeedErr.
	Prepare func() (bundle string, err error)
	// InRoot: Runner runs commands inside Root (an offline root), so
	// modules give them in-root paths (modules.Env.CmdPath).
	InRoot bool

	// Only limits the run to these modules (phoenix setup-hypervisor).
	Only []string
	// Select passes an item selection to a module (phoenix lxc 101). A
	// module run with a selection gets no marker: only its status changes.
	Select map[string][]string
	// Disabled stops the run before any work (kernel phoenix.disable).
	Disabled bool
	// Early is the early stage (phoenix run --early, phoenix-local.service,
	// before the network is up): it runs the pending modules in order while
	// each can work without the network (modules.Early) and stops at the
	// first that cannot, leaving it and the rest to phoenix.service. A
	// module that fails here is left to phoenix.service too, which runs it
	// again after the network and records the failure if it fails again;
	// a reboot being resumed is also left to it. The early stage never
	// sends the report (phoenix.service always follows it).
	Early bool
	// EarlyOrder, when set, runs the early stage's modules one at a time:
	// whenever some may start, it gets their names in the seed's order
	// and returns them in the order to run them (the fault harness, whose
	// runs must repeat). Nil runs them at the same time.
	EarlyOrder func(ready []string) []string
	// Startup carries the phases the caller measured before Run (process
	// start, the seed); Run adds its own (Engine) once a module starts and
	// records it in status.
	Startup Startup

	Version string
	BootID  string           // "" reads BootIDFile through the Root
	Now     func() time.Time // nil is time.Now
	// Reboot asks the machine to reboot; the run then exits 0. Nil means
	// `systemctl reboot` through the Runner.
	Reboot func(ctx context.Context) error
	// Units enables and disables the boot unit; nil means BootUnits on
	// Root, offline.
	Units         UnitSwitch
	RebootLimit   int           // reboots per module before the loop guard stops; 0 = 3
	LockWait      time.Duration // 0 = 30s
	ModuleTimeout time.Duration // one module's Apply; 0 = 4h

	Stderr  io.Writer          // plain progress and errors; nil = none
	Journal Journal            // structured entries instead of Stderr, when set
	Notify  func(state string) // sd_notify ("STATUS=...", "READY=1"); nil = none
	// Ended is called once a run ends (done, failed, invalid, or before a
	// reboot) with the final status: the seed's report webhook. It must
	// bound its own time; its error is only logged, never fails the run.
	Ended func(ctx context.Context, st Status) error
}

// Outcome is how a run ended.
type Outcome struct {
	// State is Done (the requested work finished), Rebooting, Failed,
	// Invalid or Disabled.
	State State
	// Complete is set when every module of the seed is done (not only the
	// selected ones): the completion record was written and the boot unit
	// disabled.
	Complete bool
	// Module is the module that failed or asked for the reboot.
	Module string
	// Ran lists the modules whose Apply ran in this invocation.
	Ran []string
}

// ErrRebootLoop is wrapped by the error of a module that asked for more
// reboots than the limit.
var ErrRebootLoop = errors.New("reboot limit reached")

type engine struct {
	o       Options
	r       host.Root
	run     host.Runner
	red     *host.Redactor
	out     *output
	now     func() time.Time
	boot    string
	mu      sync.Mutex // guards st and its saving: modules may report from goroutines
	st      Status
	prev    Status // status.json as this run found it
	markers map[string]Marker
	cursor  Cursor
	begun   time.Time // monotonic: when Run was called (Startup.Engine)
	started bool      // a module has started in this run
}

// Run takes the lock and runs the pending modules. The error is non-nil
// exactly when the outcome is Failed or Invalid, or when the run could not
// start (lock, unreadable state); it is already redacted.
func Run(ctx context.Context, o Options) (Outcome, error) {
	if o.Root == nil || o.Runner == nil {
		return Outcome{State: Failed}, errors.New("engine: Root and Runner are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RebootLimit == 0 {
		o.RebootLimit = DefaultRebootLimit
	}
	if o.LockWait == 0 {
		o.LockWait = DefaultLockWait
	}
	if o.ModuleTimeout == 0 {
		o.ModuleTimeout = DefaultModuleTimeout
	}
	if o.Units == nil {
		o.Units = BootUnits{Root: o.Root}
	}
	if o.BootID == "" {
		o.BootID = ReadBootID(o.Root)
	}
	red := NewRedactor(o.Seed)
	e := &engine{
		o:   o,
		r:   o.Root,
		run: host.RedactingRunner{Runner: o.Runner, Redactor: red},
		red: red,
		now: o.Now,
	}
	for _, n := range o.Only {
		if !slices.ContainsFunc(o.Modules, func(m modules.Module) bool { return m.Name() == n }) {
			return Outcome{State: Failed}, fmt.Errorf("engine: unknown module %q", n)
		}
	}
	e.begun = time.Now()
	lock, err := TakeLock(ctx, o.Root, o.LockWait)
	if err != nil {
		return Outcome{State: Failed}, err
	}
	defer lock.Unlock()
	if err := ensureStateDirs(o.Root); err != nil {
		return Outcome{State: Failed}, err
	}
	if e.o.Prepare != nil && e.o.SeedErr == nil && e.o.Seed != nil {
		bundle, err := e.o.Prepare()
		if err != nil {
			e.o.SeedErr, e.o.Seed = err, nil
		} else if bundle != "" {
			e.o.Bundle = bundle
		}
	}
	red.Add(FileSecrets(e.o.Seed, e.o.Root, e.o.Bundle)...)
	e.out = openOutput(o.Root, &e.o, red)
	defer e.out.close()
	e.sweep()
	e.run = loggingRunner{next: e.run, out: e.out}
	// phoenix.service is Type=notify and ordered before pve-guests: READY
	// says provisioning is over (done, failed or rebooting), not that it
	// started.
	defer e.notify("READY=1")
	out, err := e.execute(ctx)
	if out.State != Rebooting && out.State != Disabled && !o.Early {
		// Provisioning is over before the report goes out: it must not
		// hold back pve-guests.
		e.notify("READY=1")
		e.ended(ctx)
	}
	return out, err
}

// ended hands the final status to Options.Ended and logs its failure.
func (e *engine) ended(ctx context.Context) {
	if e.o.Ended == nil {
		return
	}
	e.mu.Lock()
	st := e.st
	st.Modules = slices.Clone(e.st.Modules)
	e.mu.Unlock()
	if err := e.o.Ended(ctx, st); err != nil {
		e.out.line("report", prioNotice, e.red.String(err.Error()))
	}
}

// TrustAnchorFile makes seed sources refuse unsigned volume seeds
// (seed/source.RequireSignedFile). The first completion writes it, outside
// the state directory: `phoenix clean --all` (which removes the completion
// record) and `phoenix uninstall --purge` keep it, so neither reopens the
// window in which an unsigned stick is taken.
const TrustAnchorFile = "/etc/phoenix/require-signed"

const trustAnchorText = `# Written by phoenix when this host's seed first completed: from now on a
# seed on a USB stick or CD must be signed (see /etc/phoenix/allowed_signers).
# phoenix clean and phoenix uninstall --purge keep this file. Remove it by
# hand to accept unsigned sticks again.
`

func writeTrustAnchor(r host.Root) error {
	if host.Exists(r, TrustAnchorFile) {
		return nil
	}
	return r.WriteFile(TrustAnchorFile, []byte(trustAnchorText), 0o644, host.Owner{})
}

// stateDirs are the directories of the state tree: root only (0700), as
// docs/operator.md says, whichever write creates them first. Files under
// them are 0600 anyway; the directories keep their names (users, pools,
// modules) private too.
var stateDirs = []string{StateDir, MarkerDir, modules.StoreDir, BundleDir}

// ensureStateDirs creates the state directories 0700 and tightens ones an
// older version (or a bundle copy) created 0755.
func ensureStateDirs(r host.Root) error {
	for _, d := range stateDirs {
		if err := r.MkdirAll(d, 0o700, host.Owner{}); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		fi, err := r.Lstat(d)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("engine: %s is not a directory", d)
		}
		if fi.Mode().Perm() != 0o700 {
			if err := r.Chmod(d, 0o700); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
		}
	}
	return nil
}

// sweep removes the temporary files that writes cut off by a power loss
// left in the state tree (host.SweepTemp), under the lock, and logs them.
// Not the bundle: its files are the seed volume's, named by the user.
func (e *engine) sweep() {
	var removed []string
	for _, d := range []struct {
		dir   string
		depth int
	}{{StateDir, 0}, {MarkerDir, 0}, {modules.StoreDir, 2}} {
		r, err := host.SweepTemp(e.o.Root, d.dir, d.depth)
		removed = append(removed, r...)
		if err != nil {
			// Litter only: the run goes on.
			e.out.line("", prioNotice, "state: removing temporary files: "+err.Error())
		}
	}
	if len(removed) > 0 {
		e.out.line("", prioInfo, fmt.Sprintf("state: removed %d temporary file(s) of writes a power loss cut off: %s", len(removed), strings.Join(removed, " ")))
	}
}

// ReadBootID returns the current boot id: BootIDFile inside the root, then
// the running kernel's, then "unknown".
func ReadBootID(r host.Root) string {
	if b, err := r.ReadFile(BootIDFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(BootIDFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "unknown"
}

// Digest is the digest of a whole seed file, for status and SEED_DIGEST.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// loggingRunner puts each command line (argv only, redacted) into the log
// file, so the log shows what was run without flooding the console.
type loggingRunner struct {
	next host.Runner
	out  *output
}

func (l loggingRunner) Run(ctx context.Context, c host.Cmd) (host.Output, error) {
	l.out.fileLine("$ " + c.String())
	return l.next.Run(ctx, c)
}

func (e *engine) notify(state string) {
	if e.o.Notify != nil {
		e.o.Notify(e.red.String(state))
	}
}

// save writes status.json durably: the state a run ends in (done,
// pending, failed, rebooting, invalid, disabled).
func (e *engine) save() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.saveLocked(true)
}

// progress writes status.json as a run goes (it starts, a module starts,
// reports an item, ends) atomically but not durably (host.WriteVolatile):
// a dozen fsync pairs in a first boot's stage, which smbd and nfs-server
// wait for. The durable record is the markers, the cursor and the
// in-progress record; a run cut short by a power cut runs again at the
// next boot and rewrites the status, and the run's last save is durable.
func (e *engine) progress() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.saveLocked(false)
}

func (e *engine) saveLocked(durable bool) error {
	e.st.Updated = e.now().UTC()
	if e.started {
		// Only a run that started a module: a converged one keeps the
		// last run's figures, and its status.json stays unchanged.
		e.st.CPU = runCPU()
	}
	// The first status.json is durable too: ext4 orders a rename's data
	// before it only when the rename replaces a file, so a new one cut
	// short could be left empty.
	durable = durable || !host.Exists(e.r, StatusFile)
	if err := putJSON(e.r, StatusFile, e.st, durable); err != nil {
		return fmt.Errorf("engine: status: %w", err)
	}
	return nil
}

func (e *engine) execute(ctx context.Context) (Outcome, error) {
	o := &e.o
	e.st = Status{State: Running, Version: o.Version, BootID: o.BootID, Started: e.now().UTC(),
		Seed: SeedInfo{Origin: o.SeedOrigin, Name: o.SeedName}}
	e.boot = o.BootID

	if o.Disabled || host.Exists(e.r, DisabledFile) {
		e.st.State = Disabled
		e.st.Error = "phoenix is disabled (phoenix.disable on the kernel command line or " + DisabledFile + ")"
		e.out.line("", prioNotice, e.st.Error)
		e.keepModules()
		return Outcome{State: Disabled}, e.save()
	}
	if o.SeedErr != nil || o.Seed == nil {
		err := o.SeedErr
		if err == nil {
			err = errors.New("no seed")
		}
		e.st.State = Invalid
		e.st.Error = e.red.String(err.Error())
		e.keepModules()
		e.out.line("", prioErr, "seed: "+e.st.Error+" (nothing was run)")
		if werr := e.save(); werr != nil {
			return Outcome{State: Invalid}, werr
		}
		e.banner("seed", e.st.Error)
		return Outcome{State: Invalid}, fmt.Errorf("seed: %s", e.st.Error)
	}

	// The state directory holds the seed copy and records naming users and
	// disks: root only.
	if !host.Exists(e.r, StateDir) {
		if err := e.r.MkdirAll(StateDir, 0o700, host.Owner{}); err != nil {
			return e.abort(fmt.Errorf("engine: %w", err))
		}
	}
	data := o.SeedData
	if data == nil {
		data, _ = json.Marshal(o.Seed)
		if o.SeedName == "" {
			o.SeedName = "seed.json"
		}
	}
	e.st.Seed.Digest = Digest(data)
	e.out.digest = e.st.Seed.Digest
	if _, err := host.WriteIfChanged(e.r, SeedCopy(o.SeedName), data, 0o600, host.Owner{}); err != nil {
		return e.abort(fmt.Errorf("engine: seed copy: %w", err))
	}
	for _, c := range []string{SeedCopy("seed.yaml"), SeedCopy("seed.json")} {
		if c != SeedCopy(o.SeedName) {
			if err := removeIfExists(e.r, c); err != nil {
				return e.abort(fmt.Errorf("engine: seed copy: %w", err))
			}
		}
	}

	var err error
	if e.markers, err = ReadMarkers(e.r); err != nil {
		return e.abort(fmt.Errorf("engine: markers: %w", err))
	}
	if _, err := readJSON(e.r, CursorFile, &e.cursor); err != nil {
		return e.abort(fmt.Errorf("engine: cursor: %w", err))
	}
	if e.cursor.Reboots == nil {
		e.cursor.Reboots = map[string]int{}
	}
	var prog InProgress
	foundProg, _ := readJSON(e.r, InProgressFile, &prog)
	e.initStatus()
	todo := e.todo()
	if o.Early && e.cursor.Module != "" && len(todo) > 0 {
		// Resuming after a reboot is phoenix.service's: the module that
		// asked for it verifies its work there, in order.
		e.out.line("", prioInfo, EarlyResumeNote(e.cursor.Module))
		return Outcome{State: Done, Module: e.cursor.Module}, nil
	}
	if foundProg {
		// The record says a module's Apply was interrupted. If that module
		// is not pending (its marker was written just before the crash, or
		// it left the seed), the record is stale: clear it instead of
		// announcing a rerun that never comes, on every run.
		mods := append([]string{prog.Module}, prog.Alongside...)
		if slices.ContainsFunc(todo, func(m modules.Module) bool { return slices.Contains(mods, m.Name()) }) {
			what, again := prog.Module, "it"
			if len(mods) > 1 {
				what, again = strings.Join(mods, ", ")+" (at the same time)", "what is not done"
			}
			e.out.line(prog.Module, prioNotice, fmt.Sprintf("the run of %s started %s did not finish; running %s again", what, prog.Started.Format(time.RFC3339), again))
		} else if err := removeIfExists(e.r, InProgressFile); err != nil {
			return e.abort(fmt.Errorf("engine: %w", err))
		}
	}
	// On a host where everything is done (every boot of a provisioned
	// machine with the unit still enabled, every status check) the run
	// only rewrites status once, at the end.
	if len(todo) > 0 || e.cursor.Module != "" {
		if err := e.progress(); err != nil {
			return e.abort(err)
		}
	}

	// A reboot requested in this very boot has not happened yet (the
	// request failed, or someone ran phoenix again before it took effect):
	// ask again rather than running the module a second time before it.
	if e.cursor.Module != "" && e.cursor.BootID == e.boot {
		e.out.line(e.cursor.Module, prioNotice, "reboot already requested in this boot; requesting it again")
		return e.reboot(ctx, e.cursor.Module, e.cursor.Reason, nil)
	}
	if e.cursor.Module != "" {
		e.out.line(e.cursor.Module, prioInfo, "resuming after reboot")
		e.cursor.Module, e.cursor.BootID, e.cursor.Reason, e.cursor.Requested = "", "", "", time.Time{}
	}

	// Progress counts among all the modules this seed has work for, done
	// or not, so "zfs 6/9" means the same before and after a reboot.
	var active []string
	for _, m := range e.o.Modules {
		if e.selected(m.Name()) && e.st.Module(m.Name()).State != Skipped {
			active = append(active, m.Name())
		}
	}
	if o.Early {
		return e.earlyStage(ctx, todo, active)
	}
	var ran []string
	for _, m := range todo {
		name := m.Name()
		ms := e.st.Module(name)
		i := slices.Index(active, name) + 1
		ran = append(ran, name)
		res, err := e.apply(ctx, m, ms, i, len(active), false)
		if err != nil {
			out, ferr := e.fail(ms, err)
			out.Ran = ran
			return out, ferr
		}
		if res.Reboot {
			out, rerr := e.reboot(ctx, name, res.Reason, ms)
			out.Ran = ran
			return out, rerr
		}
	}
	out, err := e.finish()
	out.Ran = ran
	return out, err
}

// early asks module m whether it can run in the early stage.
func (e *engine) early(ctx context.Context, m modules.Module, i, total int) (bool, string) {
	em, ok := m.(modules.Early)
	if !ok {
		return false, "it needs the network"
	}
	env := e.env(m.Name(), i, total, &timer{red: e.red})
	env.EarlyStage = true
	return em.Early(ctx, env)
}

// earlyStop ends the early stage before module name: status says pending,
// and phoenix.service, ordered after this stage and the network, goes on.
func (e *engine) earlyStop(name, why string, ran []string) (Outcome, error) {
	e.st.State, e.st.Progress = Pending, ""
	e.out.line(name, prioInfo, fmt.Sprintf("early stage ends here: %s; %s and the modules after it run in phoenix.service", why, name))
	if err := e.save(); err != nil {
		return e.abort(err)
	}
	return Outcome{State: Done, Module: name, Ran: ran}, nil
}

// keepModules carries the module lines of the last status over to a run
// that runs nothing (disabled, invalid seed): what is done stays visible.
func (e *engine) keepModules() {
	prev, _, _ := ReadStatus(e.r)
	e.st.Modules, e.st.Unmanaged = prev.Modules, prev.Unmanaged
	if e.st.Modules == nil {
		e.st.Modules = []ModuleStatus{}
	}
}

// abort records an engine error (not a module's) and stops.
func (e *engine) abort(err error) (Outcome, error) {
	err = e.red.Error(err)
	e.st.State = Failed
	e.st.Error = err.Error()
	e.out.line("", prioErr, err.Error())
	_ = e.save()
	return Outcome{State: Failed}, err
}

func (e *engine) selected(name string) bool {
	return len(e.o.Only) == 0 || slices.Contains(e.o.Only, name)
}

// initStatus derives every module's state from the seed and the markers.
func (e *engine) initStatus() {
	prev, _, _ := ReadStatus(e.r)
	e.prev = prev
	// Until a module starts in this run, the last run's startup stands.
	e.st.Startup, e.st.CPU = prev.Startup, prev.CPU
	known := map[string]bool{}
	for _, m := range e.o.Modules {
		name := m.Name()
		known[name] = true
		ms := ModuleStatus{Name: name, State: Pending}
		mk, has := e.markers[name]
		switch {
		case !m.Active(e.o.Seed) && has:
			ms.State, ms.Detail = Skipped, "no longer managed: removed from the seed, nothing undone"
			e.st.Unmanaged = append(e.st.Unmanaged, name)
			e.out.line(name, prioNotice, "no longer managed (its section left the seed); what it did stays in place")
		case !m.Active(e.o.Seed):
			ms.State, ms.Detail = Skipped, "not in the seed"
		case has && mk.Digest == modules.Digest(m, e.o.Seed):
			ms.State, ms.Digest = Done, mk.Digest
			ms.Started, ms.Finished, ms.Reboots = mk.Started, mk.Finished, mk.Reboots
			ms.Seconds = mk.Finished.Sub(mk.Started).Seconds()
			ms.Changed, ms.Notes, ms.Commands = mk.Changed, mk.Notes, mk.Commands
			// What the marker does not keep comes from the last status:
			// without it a converged boot would drop the module's CPU
			// time from the report and rewrite status.json.
			if p := prev.Module(name); p != nil {
				ms.Items, ms.CPUSeconds = p.Items, p.CPUSeconds
			}
		case has:
			ms.Detail = "seed section changed"
		}
		if ms.State == Pending && !e.selected(name) {
			ms.Detail = strings.TrimPrefix(ms.Detail+"; not selected", "; ")
		}
		ms.Reboots = max(ms.Reboots, e.cursor.Reboots[name])
		e.st.Modules = append(e.st.Modules, ms)
	}
	for name := range e.markers {
		if !known[name] {
			e.st.Unmanaged = append(e.st.Unmanaged, name)
		}
	}
	slices.Sort(e.st.Unmanaged)
}

// todo is the modules this run applies, in order.
func (e *engine) todo() []modules.Module {
	var out []modules.Module
	for _, m := range e.o.Modules {
		ms := e.st.Module(m.Name())
		if !e.selected(m.Name()) || ms.State == Skipped {
			continue
		}
		if ms.State == Done && len(e.o.Select[m.Name()]) == 0 {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (e *engine) env(name string, i, total int, t *timer) *modules.Env {
	return &modules.Env{
		Seed:   e.o.Seed,
		Runner: timedRunner{next: e.run, t: t},
		Root:   e.r,
		Store:  modules.NewStore(e.r),
		Bundle: e.o.Bundle,
		InRoot: e.o.InRoot,
		Log:    slog.New(&logHandler{out: e.out, module: name}),
		Progress: func(msg string) {
			line := e.red.String(fmt.Sprintf("%s %d/%d: %s", name, i, total, msg))
			e.mu.Lock()
			e.st.Progress = line
			e.mu.Unlock()
			e.notify("STATUS=" + line)
		},
		Report: func(it modules.Item) { e.report(name, it) },
		Select: e.o.Select[name],
		BootID: e.boot,
	}
}

func (e *engine) report(name string, it modules.Item) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ms := e.st.Module(name)
	if ms == nil {
		return
	}
	it.Name, it.Detail = e.red.String(it.Name), e.red.String(it.Detail)
	i := slices.IndexFunc(ms.Items, func(x modules.Item) bool { return x.Name == it.Name })
	if i >= 0 {
		ms.Items[i] = it
	} else {
		ms.Items = append(ms.Items, it)
	}
	if err := e.saveLocked(false); err != nil {
		e.out.line(name, prioErr, err.Error())
	}
}

// apply runs one module and, on success without a reboot, writes its
// marker. The in-progress record is written before Apply and removed after
// the marker, never the other way round: a crash anywhere re-runs the
// module, whose Apply is idempotent. With beside set the module is one of
// the early stage's, which may run at the same time (runBeside): the
// in-progress record is the stage's, and Phoenix's CPU time is that of
// the calling goroutine's locked thread.
func (e *engine) apply(ctx context.Context, m modules.Module, ms *ModuleStatus, i, total int, beside bool) (modules.Result, error) {
	name := m.Name()
	digest := modules.Digest(m, e.o.Seed)
	start := e.now().UTC()
	if !beside {
		if err := writeJSON(e.r, InProgressFile, InProgress{Module: name, Digest: digest, BootID: e.boot, Started: start}); err != nil {
			return modules.Result{}, fmt.Errorf("engine: %w", err)
		}
	}
	e.mu.Lock()
	ms.State, ms.Started, ms.Finished, ms.Seconds, ms.Failure, ms.Detail = Running, start, time.Time{}, 0, nil, ""
	ms.Digest = digest
	if !e.started {
		e.started = true
		su := e.o.Startup
		su.Engine = time.Since(e.begun).Seconds()
		if e.o.Early {
			su.Stage = "early"
		}
		e.st.Startup = &su
	}
	progress := fmt.Sprintf("%s %d/%d", name, i, total)
	e.st.Progress = progress
	prior := e.cursor.Commands[name]
	e.mu.Unlock()
	e.notify("STATUS=" + progress)
	e.out.line(name, prioInfo, fmt.Sprintf("starting (%d/%d)", i, total))
	if err := e.progress(); err != nil {
		return modules.Result{}, err
	}

	mctx, cancel := context.WithTimeout(ctx, e.o.ModuleTimeout)
	t := &timer{red: e.red}
	env := e.env(name, i, total, t)
	env.EarlyStage = e.o.Early
	cpu0 := selfCPU(beside)
	res, err := safeApply(mctx, m, env)
	cancel()
	cpu := selfCPU(beside) - cpu0
	e.mu.Lock()
	defer e.mu.Unlock()
	ms.Commands = t.result()
	ms.CPUSeconds = cpu
	if prior != nil {
		// The part before this module's reboots counts too.
		all := *prior
		all.Slowest = slices.Clone(prior.Slowest)
		all.merge(ms.Commands)
		ms.Commands = &all
	}
	if err != nil || res.Reboot {
		return res, err
	}
	finished := e.now().UTC()
	ms.State, ms.Finished, ms.Seconds = Done, finished, finished.Sub(start).Seconds()
	ms.Changed, ms.Notes = e.red.Strings(res.Changed), e.red.Strings(res.Notes)
	ms.Reboots = e.cursor.Reboots[name]
	if len(e.o.Select[name]) == 0 {
		mk := Marker{Module: name, Digest: digest, Version: e.o.Version, BootID: e.boot,
			Started: start, Finished: finished, Reboots: ms.Reboots, Changed: ms.Changed, Notes: ms.Notes,
			Commands: ms.Commands}
		if first, ok := e.cursor.Started[name]; ok {
			// Count the time before the module's reboots too.
			mk.Started, ms.Started, ms.Seconds = first, first, finished.Sub(first).Seconds()
		}
		if err := writeJSON(e.r, MarkerFile(name), mk); err != nil {
			return res, fmt.Errorf("engine: marker: %w", err)
		}
		e.markers[name] = mk
		if _, had := e.cursor.Reboots[name]; had {
			delete(e.cursor.Reboots, name)
			delete(e.cursor.Started, name)
			delete(e.cursor.Commands, name)
			if err := writeJSON(e.r, CursorFile, e.cursor); err != nil {
				return res, fmt.Errorf("engine: cursor: %w", err)
			}
		}
	} else {
		ms.Detail = "ran for " + strings.Join(e.o.Select[name], ", ") + " only (no marker)"
		if mk, ok := e.markers[name]; !ok || mk.Digest != digest {
			ms.State = Pending
		}
	}
	if !beside {
		if err := removeIfExists(e.r, InProgressFile); err != nil {
			return res, fmt.Errorf("engine: %w", err)
		}
	}
	e.out.line(name, prioInfo, fmt.Sprintf("done in %.1fs (%d changes)", ms.Seconds, len(ms.Changed)))
	return res, e.saveLocked(false)
}

// safeApply turns a module's panic into its failure, so the run records
// it like any other error.
func safeApply(ctx context.Context, m modules.Module, env *modules.Env) (res modules.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			if c, ok := p.(interface{ Crash() }); ok {
				panic(c) // a simulated crash (bootstrap/fault) must unwind the engine too
			}
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return modules.Apply(ctx, m, env)
}

// fail records a module's failure and stops the run.
func (e *engine) fail(ms *ModuleStatus, err error) (Outcome, error) {
	// Modules never name themselves in their errors; the engine always
	// does ("zfs: create pool ...").
	err = fmt.Errorf("%s: %w", ms.Name, err)
	err = e.red.Error(err)
	f := &Failure{Error: err.Error()}
	var ee *host.ExitError
	if errors.As(err, &ee) {
		f.Command, f.ExitCode, f.Stderr = ee.Cmd, ee.Code, tail(strings.TrimSpace(ee.Stderr), 4000)
	}
	ms.State, ms.Failure, ms.Finished = Failed, f, e.now().UTC()
	ms.Seconds = ms.Finished.Sub(ms.Started).Seconds()
	e.st.State, e.st.Error, e.st.Finished = Failed, f.Error, ms.Finished
	e.st.Progress = ""
	e.out.line(ms.Name, prioErr, "failed: "+f.Error)
	e.notify("STATUS=failed: " + firstLine(f.Error))
	if rerr := removeIfExists(e.r, InProgressFile); rerr != nil {
		e.out.line("", prioErr, rerr.Error())
	}
	if serr := e.save(); serr != nil {
		e.out.line("", prioErr, serr.Error())
	}
	e.banner(ms.Name, f.Error)
	return Outcome{State: Failed, Module: ms.Name}, err
}

// reboot persists the cursor, makes sure the boot unit will run again, and
// asks for the reboot. Past the per-module limit it fails instead.
func (e *engine) reboot(ctx context.Context, name, reason string, ms *ModuleStatus) (Outcome, error) {
	if ms != nil { // a new request (not a repeat of one already persisted)
		n := e.cursor.Reboots[name] + 1
		if n > e.o.RebootLimit {
			return e.fail(ms, fmt.Errorf("asked for reboot number %d (limit %d): %w; the module does not converge across reboots (last reason: %s)",
				n, e.o.RebootLimit, ErrRebootLoop, orNone(reason)))
		}
		e.cursor.Reboots[name] = n
		if _, ok := e.cursor.Started[name]; !ok {
			if e.cursor.Started == nil {
				e.cursor.Started = map[string]time.Time{}
			}
			e.cursor.Started[name] = ms.Started
		}
		if ms.Commands != nil {
			if e.cursor.Commands == nil {
				e.cursor.Commands = map[string]*Commands{}
			}
			e.cursor.Commands[name] = ms.Commands // already merged with earlier boots'
		}
		e.cursor.Module, e.cursor.BootID, e.cursor.Reason, e.cursor.Requested = name, e.boot, e.red.String(reason), e.now().UTC()
		if err := writeJSON(e.r, CursorFile, e.cursor); err != nil {
			return e.abort(fmt.Errorf("engine: cursor: %w", err))
		}
		ms.State, ms.Reboots, ms.Detail = Running, n, "rebooting: "+e.red.String(orNone(reason))
	}
	// The reseed path starts phoenix with the boot unit disabled: enable it
	// so the work continues after this reboot.
	if err := e.o.Units.EnableBoot(ctx); err != nil {
		return e.abort(fmt.Errorf("engine: %w", err))
	}
	if err := removeIfExists(e.r, InProgressFile); err != nil {
		return e.abort(fmt.Errorf("engine: %w", err))
	}
	e.st.State = Rebooting
	e.st.Progress = e.red.String(fmt.Sprintf("%s: rebooting (%s)", name, orNone(reason)))
	if err := e.save(); err != nil {
		return e.abort(err)
	}
	e.out.line(name, prioNotice, "rebooting: "+orNone(reason))
	e.notify("STATUS=" + e.st.Progress)
	reboot := e.o.Reboot
	if reboot == nil {
		reboot = func(ctx context.Context) error {
			_, err := e.run.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"reboot"}, Timeout: time.Minute})
			return err
		}
	}
	e.ended(ctx)
	if err := reboot(ctx); err != nil {
		return e.abort(fmt.Errorf("engine: reboot for %s: %w", name, err))
	}
	return Outcome{State: Rebooting, Module: name}, nil
}

// finish writes the completion record and disables the boot unit when the
// whole seed is done.
func (e *engine) finish() (Outcome, error) {
	complete := true
	for _, ms := range e.st.Modules {
		complete = complete && (ms.State == Done || ms.State == Skipped)
	}
	e.st.Progress = ""
	e.removeBanner()
	if !complete {
		e.st.State = Pending
		e.out.line("", prioInfo, "selected work done; other modules still pending")
		return Outcome{State: Done}, e.save()
	}
	fin := e.now().UTC()
	var prev Completion
	if found, _ := readJSON(e.r, CompletionFile, &prev); !found || prev.SeedDigest != e.st.Seed.Digest {
		if err := writeJSON(e.r, CompletionFile, Completion{Finished: fin, BootID: e.boot, Version: e.o.Version, SeedDigest: e.st.Seed.Digest}); err != nil {
			return e.abort(fmt.Errorf("engine: completion: %w", err))
		}
	} else if !prev.Finished.IsZero() {
		fin = prev.Finished
	}
	if err := writeTrustAnchor(e.r); err != nil {
		return e.abort(fmt.Errorf("engine: %w", err))
	}
	if err := removeIfExists(e.r, CursorFile); err != nil {
		return e.abort(fmt.Errorf("engine: %w", err))
	}
	// status.json says done before the boot unit is disabled: a power cut
	// between the two then leaves an enabled unit whose next run finds
	// everything done, not a disabled unit under a status that says
	// "running" for ever (found by make powercut: docs/perf/powercut.md).
	e.st.State, e.st.Finished = Done, fin
	if !e.unchanged() {
		if err := e.save(); err != nil {
			return e.abort(err)
		}
	}
	if err := e.o.Units.DisableBoot(context.Background()); err != nil {
		return e.abort(fmt.Errorf("engine: %w", err))
	}
	if e.o.Early && e.o.Ended == nil {
		// With a report to send, phoenix.service still runs (converged)
		// and sends it once the network is up.
		if _, err := host.WriteIfChanged(e.r, EarlyDoneFile, []byte(e.st.Seed.Digest+"\n"), 0o644, host.Owner{}); err != nil {
			return e.abort(fmt.Errorf("engine: %w", err))
		}
	}
	e.notify("STATUS=done")
	// Not "all modules done": that is the verb's own last line on stdout
	// (cmd/phoenix run.go), and under systemd both reach the journal.
	e.out.line("", prioInfo, "every module converged; boot unit disabled")
	return Outcome{State: Done, Complete: true}, nil
}

// unchanged reports whether status.json already says what this run would
// write, apart from when and in which boot: a provisioned host's boots and
// checks then write nothing at all.
func (e *engine) unchanged() bool {
	if e.prev.State != Done {
		return false
	}
	st := e.st
	st.Started, st.Updated, st.BootID = e.prev.Started, e.prev.Updated, e.prev.BootID
	a, err1 := marshal(st)
	b, err2 := marshal(e.prev)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
