package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/seed"
)

// World is one fresh host for one trial: a temp root and the stateful fakes
// of the external tools.
type World struct {
	Root   *host.DirRoot // fresh temp root per trial
	Runner host.Runner   // stateful fakes (state lives in the World)
	// Effects is a canonical dump of the external state (fake pools,
	// containers...); nil when the modules have none.
	Effects func() string
	// Boot, when set, simulates a reboot (e.g. the fake forgets loaded
	// kernel modules). It runs between runs when the engine reboots and
	// after every simulated crash (a crash is a power loss).
	Boot func()
	// EarlyDone, when set, runs after each early stage that ended
	// (Scenario.EarlyOrder): systemd starts the units ordered after
	// phoenix-local.service then (the services' queued start jobs).
	EarlyDone func()
}

// Scenario is what Check runs.
type Scenario struct {
	Seed     *seed.Seed
	Modules  []modules.Module
	NewWorld func(t testing.TB) *World
	// MaxRuns is how many engine runs (boots) a trial may take to finish
	// after its fault; 0 means 6.
	MaxRuns int
	// Ignore lists in-root path globs left out of the comparison (logs,
	// timestamps). "dir/**" matches everything below dir. The engine's own
	// volatile records are always ignored; markers are compared by digest.
	Ignore []string
	// EarlyOrder, when set, makes every boot run the early stage first
	// (phoenix-local.service: Options.Early), with its modules one at a
	// time in the order EarlyOrder picks among those ready to start
	// (Options.EarlyOrder), and then the network stage unless the early
	// stage completed the seed. Run once in the seed's order and once in
	// another, a scenario covers the orders the early stage may finish
	// its modules in when they run at the same time.
	EarlyOrder func(ready []string) []string
}

// Stats says how much Check tried.
type Stats struct {
	Commands int // commands in the fault-free run
	Writes   int // file writes (and other Root changes) in the fault-free run
	Points   int // trials run: commands*2 (fail, crash after) + writes
}

// engineIgnore are the engine's records that legitimately differ between
// runs (times, boot ids, logs). Markers are compared by digest instead.
var engineIgnore = []string{
	bootstrap.StatusFile, bootstrap.CursorFile, bootstrap.InProgressFile, bootstrap.CompletionFile,
	bootstrap.LogDir + "/**", "/run/**", "/proc/**",
}

// Check runs the scenario fault-free and then with every fault, and fails t
// for every trial whose end state differs from the fault-free one. It logs
// how many injection points it tried.
func Check(t *testing.T, sc Scenario) Stats {
	t.Helper()
	st, problems := Run(t, sc)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("fault: %d injection points tried (%d commands, %d writes)", st.Points, st.Commands, st.Writes)
	return st
}

// Run is Check without failing the test: it returns every problem found,
// so tests of the harness itself can assert what it catches.
func Run(tb testing.TB, sc Scenario) (Stats, []string) {
	tb.Helper()
	if sc.MaxRuns == 0 {
		sc.MaxRuns = 6
	}
	// Worlds' roots skip fsync (crashes here are simulated); without this
	// the trials of a module with a few dozen writes take minutes.
	defer host.SetDefaultSync(false)()
	var problems []string

	w := sc.NewWorld(tb)
	ref := &injector{}
	if p := converge(w, sc, ref); p != "" {
		return Stats{}, []string{"fault-free run: " + p}
	}
	want := snapshot(w, sc.Ignore)
	problems = append(problems, checkConverged(w, sc)...)
	if sc.EarlyOrder != nil {
		// Modules that may run at the same time must end the same in
		// any order: compare with the seed's.
		inOrder := sc
		inOrder.EarlyOrder = func(ready []string) []string { return ready }
		w2 := sc.NewWorld(tb)
		if p := converge(w2, inOrder, &injector{}); p != "" {
			return Stats{}, []string{"fault-free run in the seed's order: " + p}
		}
		if d := diff(want, snapshot(w2, sc.Ignore)); d != "" {
			problems = append(problems, "the early stage's modules end differently in the seed's order than in EarlyOrder's (a module runs beside one it depends on):\n"+d)
		}
	}
	st := Stats{Commands: ref.commands, Writes: ref.writes}

	trial := func(inj *injector) {
		st.Points++
		w := sc.NewWorld(tb)
		if p := converge(w, sc, inj); p != "" {
			problems = append(problems, inj.label()+": "+p)
			return
		}
		if !inj.fired {
			problems = append(problems, inj.label()+": the fault never fired (the run is not deterministic)")
			return
		}
		if d := diff(want, snapshot(w, sc.Ignore)); d != "" {
			problems = append(problems, inj.label()+": end state differs from the fault-free run:\n"+d+inj.tail())
		}
	}
	for k := 1; k <= ref.commands; k++ {
		trial(&injector{failCmd: k})
		trial(&injector{crashCmd: k})
	}
	for k := 1; k <= ref.writes; k++ {
		trial(&injector{crashWrite: k})
	}
	return st, problems
}

// converge runs the engine until the seed is complete, simulating reboots
// and crashes; it returns a problem or "".
func converge(w *World, sc Scenario, inj *injector) string {
	w.Root.SetSync(false) // crashes are simulated; fsync would dominate the run time
	boot := 1
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	inj.log = &log
	fresh := true // a boot's first run: the early stage runs first in it
	for run := 1; run <= sc.MaxRuns; run++ {
		stages := []bool{false}
		if sc.EarlyOrder != nil && fresh {
			stages = []bool{true, false}
		}
		fresh = false
	stages:
		for _, early := range stages {
			fmt.Fprintf(&log, "--- run %d (boot-%d, early %v)\n", run, boot, early)
			o := bootstrap.Options{
				Root:     &root{DirRoot: w.Root, inj: inj},
				Runner:   &runner{next: w.Runner, inj: inj},
				Modules:  sc.Modules,
				Seed:     sc.Seed,
				Version:  "fault",
				BootID:   fmt.Sprintf("boot-%d", boot),
				Now:      func() time.Time { clock = clock.Add(time.Second); return clock },
				Reboot:   func(context.Context) error { return nil },
				LockWait: 10 * time.Second,
				Stderr:   &log,
			}
			if early {
				o.Early, o.EarlyOrder = true, sc.EarlyOrder
			}
			out, err, crashed := runOnce(o)
			if early && !crashed && err == nil && out.State == bootstrap.Done && w.EarlyDone != nil {
				w.EarlyDone()
			}
			switch {
			case crashed:
				fmt.Fprintf(&log, "--- crash\n")
				reboot(w, &boot)
				fresh = true
				break stages
			case out.State == bootstrap.Rebooting:
				reboot(w, &boot)
				fresh = true
				break stages
			case err != nil && inj.firedNow:
				// The injected failure: run again, as an operator (or the
				// next boot) would; after the early stage, phoenix.service
				// runs anyway.
				if !early {
					break stages
				}
			case err != nil:
				return fmt.Sprintf("run %d failed: %v%s", run, err, inj.tail())
			case out.State == bootstrap.Done && out.Complete:
				return ""
			case early && out.State == bootstrap.Done:
				// The network stage goes on.
			default:
				return fmt.Sprintf("run %d ended %s without completing%s", run, out.State, inj.tail())
			}
			inj.firedNow = false
		}
		inj.firedNow = false
	}
	return fmt.Sprintf("not done after %d runs%s", sc.MaxRuns, inj.tail())
}

func reboot(w *World, boot *int) {
	*boot++
	if w.Boot != nil {
		w.Boot()
	}
}

func runOnce(o bootstrap.Options) (out bootstrap.Outcome, err error, crashed bool) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(crash); !ok {
				panic(p)
			}
			crashed = true
		}
	}()
	inj := o.Root.(*root).inj
	inj.dead = false
	out, err = bootstrap.Run(context.Background(), o)
	return out, err, false
}

// checkConverged asks every active module's Check after the fault-free
// run: it must report nothing left to do.
func checkConverged(w *World, sc Scenario) []string {
	var problems []string
	env := &modules.Env{
		Seed:   sc.Seed,
		Runner: w.Runner,
		Root:   w.Root,
		Store:  modules.NewStore(w.Root),
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		BootID: "check",
	}
	for _, m := range sc.Modules {
		if !m.Active(sc.Seed) {
			continue
		}
		changes, err := modules.Check(context.Background(), m, env)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: Check after a complete run: %v", m.Name(), err))
		} else if len(changes) > 0 {
			problems = append(problems, fmt.Sprintf("%s: Check after a complete run still lists changes: %q", m.Name(), changes))
		}
	}
	return problems
}

// crash is the panic value of a simulated crash. Its Crash method tells the
// engine not to turn it into a module failure.
type crash struct{}

func (crash) Crash() {}

// injector counts commands and writes across the runs of one trial and
// fires its single fault.
type injector struct {
	failCmd, crashCmd, crashWrite int
	commands, writes              int
	fired, firedNow               bool
	dead                          bool // crashed: nothing more happens in this process
	what                          string
	log                           *bytes.Buffer
}

func (i *injector) label() string {
	switch {
	case i.failCmd > 0:
		return fmt.Sprintf("command %d fails (%s)", i.failCmd, i.what)
	case i.crashCmd > 0:
		return fmt.Sprintf("crash after command %d (%s)", i.crashCmd, i.what)
	default:
		return fmt.Sprintf("crash after write %d (%s)", i.crashWrite, i.what)
	}
}

// tail is the end of the trial's engine output, for context.
func (i *injector) tail() string {
	if i.log == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(i.log.String()), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return "\n  engine output (end):\n    " + strings.Join(lines, "\n    ")
}

func (i *injector) alive() {
	if i.dead {
		panic(crash{})
	}
}

func (i *injector) die(what string) {
	i.fired, i.dead, i.what = true, true, what
	panic(crash{})
}

type runner struct {
	next host.Runner
	inj  *injector
}

func (r *runner) Run(ctx context.Context, c host.Cmd) (host.Output, error) {
	r.inj.alive()
	r.inj.commands++
	n := r.inj.commands
	if n == r.inj.failCmd {
		r.inj.fired, r.inj.firedNow, r.inj.what = true, true, c.String()
		return host.Output{}, &host.ExitError{Cmd: c.String(), Code: 1, Stderr: fmt.Sprintf("fault: injected failure of command %d", n)}
	}
	out, err := r.next.Run(ctx, c)
	if n == r.inj.crashCmd {
		r.inj.die(c.String())
	}
	return out, err
}

// root counts successful changes and crashes right after the chosen one.
type root struct {
	*host.DirRoot
	inj *injector
}

func (r *root) changed(what string, err error) error {
	if err != nil {
		return err
	}
	r.inj.writes++
	if r.inj.writes == r.inj.crashWrite {
		r.inj.die(what)
	}
	return nil
}

func (r *root) WriteFile(p string, data []byte, mode fs.FileMode, owner host.Owner) error {
	r.inj.alive()
	return r.changed("write "+p, r.DirRoot.WriteFile(p, data, mode, owner))
}

// WriteFileVolatile (status.json as a run goes, host.WriteVolatile) is a
// write and a crash point like WriteFile; without it the embedded
// DirRoot's would bypass the injector.
func (r *root) WriteFileVolatile(p string, data []byte, mode fs.FileMode, owner host.Owner) error {
	r.inj.alive()
	return r.changed("write "+p, r.DirRoot.WriteFileVolatile(p, data, mode, owner))
}

func (r *root) MkdirAll(p string, mode fs.FileMode, owner host.Owner) error {
	r.inj.alive()
	if fi, err := r.DirRoot.Stat(p); err == nil && fi.IsDir() {
		return r.DirRoot.MkdirAll(p, mode, owner) // nothing to create: not a write
	}
	return r.changed("mkdir "+p, r.DirRoot.MkdirAll(p, mode, owner))
}

func (r *root) Remove(p string) error {
	r.inj.alive()
	return r.changed("remove "+p, r.DirRoot.Remove(p))
}

func (r *root) Symlink(target, newname string) error {
	r.inj.alive()
	return r.changed("symlink "+newname, r.DirRoot.Symlink(target, newname))
}

func (r *root) Chmod(p string, mode fs.FileMode) error {
	r.inj.alive()
	return r.changed("chmod "+p, r.DirRoot.Chmod(p, mode))
}

func (r *root) Chown(p string, o host.Owner) error {
	r.inj.alive()
	return r.changed("chown "+p, r.DirRoot.Chown(p, o))
}

// state is a comparable dump of a world: in-root path -> description, plus
// the external effects under the key "(effects)".
type state map[string]string

func snapshot(w *World, ignore []string) state {
	s := state{}
	base := w.Root.Dir()
	ignore = append(append([]string{}, engineIgnore...), ignore...)
	_ = filepath.WalkDir(base, func(real string, d fs.DirEntry, err error) error {
		if err != nil {
			s[real] = "error: " + err.Error()
			return nil
		}
		rel, _ := filepath.Rel(base, real)
		p := path.Clean("/" + filepath.ToSlash(rel))
		if p == "/" {
			return nil
		}
		if ignored(p, ignore) {
			if d.IsDir() && ignored(p+"/x", ignore) {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		own := host.FileOwner(fi)
		meta := fmt.Sprintf("%s %d:%d", fi.Mode(), own.UID, own.GID)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(real)
			s[p] = "symlink -> " + t
		case fi.IsDir():
			s[p] = "dir " + meta
		default:
			b, _ := os.ReadFile(real)
			if strings.HasPrefix(p, bootstrap.MarkerDir+"/") {
				var m bootstrap.Marker
				_ = json.Unmarshal(b, &m)
				b = []byte("marker digest " + m.Digest)
			}
			s[p] = "file " + meta + "\n" + string(b)
		}
		return nil
	})
	// Directories holding no file or symlink are left out: an empty
	// directory (a store key's folder, /etc/issue.d after the failure
	// banner went away) is not a difference anyone can observe.
	for p, d := range s {
		if !strings.HasPrefix(d, "dir ") {
			continue
		}
		full := false
		for q, e := range s {
			if !strings.HasPrefix(e, "dir ") && strings.HasPrefix(q, p+"/") {
				full = true
				break
			}
		}
		if !full {
			delete(s, p)
		}
	}
	if w.Effects != nil {
		s["(effects)"] = w.Effects()
	}
	return s
}

func ignored(p string, globs []string) bool {
	for _, g := range globs {
		if pre, ok := strings.CutSuffix(g, "/**"); ok {
			if p == pre || strings.HasPrefix(p, pre+"/") {
				return true
			}
			continue
		}
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}

// diff describes how got differs from want, at most 10 paths.
func diff(want, got state) string {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		if want[k] != got[k] {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var b strings.Builder
	for n, k := range ks {
		if n == 10 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(ks)-n)
			break
		}
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "  %s: missing (want %s)\n", k, short(w))
		case !wok:
			fmt.Fprintf(&b, "  %s: unexpected (%s)\n", k, short(g))
		default:
			fmt.Fprintf(&b, "  %s:\n    want %s\n    got  %s\n", k, short(w), short(g))
		}
	}
	return b.String()
}

func short(s string) string {
	s = fmt.Sprintf("%q", s)
	if len(s) > 400 {
		s = s[:400] + "...\""
	}
	return s
}
