package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/coreos/go-systemd/v22/journal"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/all"
	"github.com/phoenix-pve/phoenix/seed"
	"github.com/phoenix-pve/phoenix/seed/source"
)

// engineModules is the module list the engine verbs run. The CLI tests
// swap it (from engine_test.go only) for small test modules.
var engineModules = all.Default

func init() {
	register(command{name: "run", summary: "run the pending modules of the seed (what phoenix.service does at boot)", run: runRun})
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, seedFile, rootDir := engineFlags("phoenix run", "kernel phoenix.seed=, /etc/phoenix/seed.yaml, a volume labelled PHOENIX", stderr)
	dryRun := fs.Bool("dry-run", false, "say what would run, change nothing")
	changed := fs.Bool("changed", false, "with --seed: do nothing when a run in this boot already used this very seed (the boot-time reseed check)")
	reseed := fs.Bool("reseed", false, "the reseed unit's run: with --seed, a deleted FILE runs nothing, and FILE must be complete (match FILE.sha256, or be unchanged for a moment)")
	lockWait := fs.String("lock-wait", "30s", "how long to wait for a run in progress (`DURATION`, or inf: until it ends)")
	early := fs.Bool("early", false, "the early stage (phoenix-local.service, before the network): run the leading modules that need no network, leave the rest to phoenix.service")
	if fs.Parse(args) != nil || fs.NArg() != 0 || ((*changed || *reseed) && *seedFile == "") ||
		(*early && (*changed || *reseed || *dryRun)) {
		fmt.Fprintln(stderr, "usage: phoenix run [--seed FILE [--changed] [--reseed]] [--root DIR] [--dry-run] [--lock-wait DURATION|inf] [--early]")
		return exitUsage
	}
	wait, err := parseLockWait(*lockWait)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix run: --lock-wait: %v\n", err)
		return exitUsage
	}
	if *reseed && !*dryRun {
		if code, ok := reseedReady(ctx, *seedFile, stdout, stderr); !ok {
			return code
		}
	}
	if *changed && !*dryRun {
		if why := seenThisBoot(host.NewDirRoot(*rootDir), *seedFile); why != "" {
			fmt.Fprintln(stdout, "phoenix: "+why)
			return exitOK
		}
	}
	var tweak []func(*source.Options)
	if *early {
		// Before the seed is looked for: finding it (a volume scan under a
		// slow boot) would only be thrown away, since resuming a reboot is
		// phoenix.service's (bootstrap.Options.Early).
		if m := bootstrap.RebootPending(host.NewDirRoot(*rootDir)); m != "" {
			fmt.Fprintln(stdout, "phoenix: "+bootstrap.EarlyResumeNote(m))
			return exitOK
		}
		// Before the network, an answer server is not asked at all: its
		// seed is phoenix.service's, fetched once, after the network. Nor
		// is a late USB stick waited for the usual 30 s: this stage holds
		// back smbd and nfs-server, and a volume that shows up later is
		// phoenix.service's to find.
		tweak = append(tweak, func(so *source.Options) {
			so.Remote.Offline = true
			so.Wait = earlyWait
		})
	}
	o := engineOptions(ctx, *rootDir, *seedFile, stderr, !*dryRun, tweak...)
	o.LockWait = wait
	if *dryRun {
		return printPlan(ctx, o, stdout, stderr, true)
	}
	if *early {
		if o.SeedErr != nil {
			// Not recorded: phoenix.service looks again after the network
			// and records what it finds.
			fmt.Fprintf(stdout, "phoenix: early stage: no seed yet (%v); phoenix.service looks again after the network\n", o.SeedErr)
			return exitOK
		}
		o.Early = true
	}
	return engineRun(ctx, "phoenix run", o, func(out bootstrap.Outcome) string {
		switch {
		case out.Complete:
			return "all modules done"
		case *early:
			return "early stage done; " + out.Module + " and the rest run in phoenix.service, after the network"
		}
		return "selected modules done"
	}, stdout, stderr)
}

// earlyWait bounds the early stage's wait for a seed volume (source.Options
// Wait): a device probed a moment after sysinit.target is still found, and
// a host whose seed comes later (an answer server, a slow stick) holds back
// smbd and nfs-server by no more than this in each boot the boot unit is
// enabled.
const earlyWait = 3 * time.Second

// DigestSuffix names the digest file next to an installed seed
// (seed.yaml.sha256, sha256sum format). `phoenix install --seed` writes it
// after the seed; the reseed unit watches both and runs only once they
// agree.
const DigestSuffix = ".sha256"

// reseedSettle is how long a seed without a digest file must stay
// unchanged before the reseed unit runs it; reseedSettleMax bounds the
// wait for a writer that keeps writing. Variables so tests can shorten
// them.
var reseedSettle, reseedSettleMax = 2 * time.Second, 5 * time.Minute

// reseedReady decides whether the reseed unit's run may go ahead. The path
// unit fires when the seed file appears, before its content is written,
// and when it is deleted (systemd src/core/path.c, PathChanged: "exists
// != previous_exists" on the parent's IN_CREATE/IN_DELETE). So:
//   - a deleted seed runs nothing and leaves status alone;
//   - with FILE.sha256 next to it (phoenix install --seed writes it after
//     the seed), FILE runs only once it matches: a seed cut off half-way
//     never runs;
//   - without one, FILE runs once it has stayed unchanged (size, mtime,
//     content) for reseedSettle: a writer still writing is waited for. A
//     writer that died half-way cannot be told from a finished one this
//     way; docs/iso-baking.md says to rename into place or write the
//     digest.
func reseedReady(ctx context.Context, file string, stdout, stderr io.Writer) (int, bool) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "phoenix: reseed: %s was removed; nothing to do (status unchanged)\n", file)
		return exitOK, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "phoenix: reseed: %v\n", err)
		return exitFailed, false
	}
	sum, err := os.ReadFile(file + DigestSuffix)
	switch {
	case err == nil:
		want, _, _ := strings.Cut(strings.TrimSpace(string(sum)), " ")
		if "sha256:"+strings.ToLower(want) != bootstrap.Digest(data) {
			fmt.Fprintf(stdout, "phoenix: reseed: %s does not match %s%s yet (still being written, or cut off); nothing run\n", file, file, DigestSuffix)
			return exitOK, false
		}
		return exitOK, true
	case !errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stderr, "phoenix: reseed: %v\n", err)
		return exitFailed, false
	}
	if err := settle(ctx, file, data); err != nil {
		fmt.Fprintf(stderr, "phoenix: reseed: %s: %v; nothing run\n", file, err)
		return exitFailed, false
	}
	return exitOK, true
}

// settle waits until file has kept the same size, mtime and content for
// reseedSettle.
func settle(ctx context.Context, file string, data []byte) error {
	deadline := time.Now().Add(reseedSettleMax)
	prev, err := os.Stat(file)
	if err != nil {
		return err
	}
	if time.Since(prev.ModTime()) >= reseedSettle {
		return nil // last written long enough ago (every boot-time check)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(reseedSettle):
		}
		cur, err := os.Stat(file)
		if err != nil {
			return err
		}
		now, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if cur.Size() == prev.Size() && cur.ModTime().Equal(prev.ModTime()) && bytes.Equal(now, data) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still changing after %s", reseedSettleMax)
		}
		prev, data = cur, now
	}
}

// parseLockWait reads --lock-wait: a Go duration, or inf for as long as it
// takes (the reseed unit: a seed dropped during a long run is applied
// after it, never dropped).
func parseLockWait(s string) (time.Duration, error) {
	if s == "inf" || s == "infinity" {
		return math.MaxInt64, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: want a positive duration or inf", s)
	}
	return d, nil
}

// engineFlags is the flag set of a verb that runs or plans the engine:
// --seed (seedDefault says where the seed comes from without it) and --root.
func engineFlags(verb, seedDefault string, stderr io.Writer) (fs *flag.FlagSet, seedFile, rootDir *string) {
	fs = flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	seedFile = fs.String("seed", "", "seed `FILE` (default: "+seedDefault+")")
	rootDir = fs.String("root", "/", "act on the system mounted at `DIR`")
	return fs, seedFile, rootDir
}

// engineRun runs the engine and says how it ended; done words a finished
// run. run, lxc and setup-hypervisor share it.
func engineRun(ctx context.Context, verb string, o bootstrap.Options, done func(bootstrap.Outcome) string, stdout, stderr io.Writer) int {
	out, err := bootstrap.Run(ctx, o)
	switch {
	case errors.Is(err, bootstrap.ErrLocked):
		fmt.Fprintf(stderr, "%s: %v\n", verb, err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", verb, err)
		fmt.Fprintln(stderr, verb+": see `phoenix status` and /var/log/phoenix/phoenix.log")
		return exitFailed
	}
	if out.Complete {
		if err := scrubBundle(o); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", verb, err)
		}
	}
	switch out.State {
	case bootstrap.Rebooting:
		fmt.Fprintf(stdout, "phoenix: %s needs a reboot; rebooting (the run continues at boot)\n", out.Module)
	case bootstrap.Disabled:
		fmt.Fprintln(stdout, "phoenix: disabled; nothing run")
	default:
		fmt.Fprintln(stdout, "phoenix: "+done(out))
	}
	return exitOK
}

// engineOptions finds and loads the seed and wires the engine to this
// machine (or the offline root DIR). A seed that cannot be found or loaded
// lands in SeedErr: the run records it and runs nothing. Only with write
// does it copy the seed's referenced files into the state directory (plan
// and --dry-run write nothing).
func engineOptions(ctx context.Context, rootDir, seedFile string, stderr io.Writer, write bool, tweak ...func(*source.Options)) bootstrap.Options {
	root := host.NewDirRoot(rootDir)
	live := root.Dir() == "/"
	runner := host.NewExecRunner()
	o := bootstrap.Options{
		Root:    root,
		Runner:  offlineRunner(runner, root, live),
		InRoot:  !live && !hostExec(),
		Modules: engineModules(),
		Version: version,
		Units:   bootstrap.BootUnits{Root: root, Live: live},
		Stderr:  stderr,
		Notify:  func(s string) { _, _ = daemon.SdNotify(false, s) },
	}
	if live && journal.Enabled() {
		o.Journal = func(msg string, prio int, fields map[string]string) error {
			return journal.Send(msg, journal.Priority(prio), fields)
		}
		// Under systemd, stderr is the journal stream: the structured entry
		// is enough there. Interactive runs keep their plain lines.
		if ok, _ := journal.StderrIsJournalStream(); ok {
			o.Stderr = nil
		}
	}
	switch {
	case live && host.SystemdBooted():
		o.Reboot = rebootDBus
	case !live:
		o.Reboot = offlineReboot(o.Runner, stderr)
	}
	o.Startup.Process = processSeconds()
	o.Startup.ProcessCPU, o.Startup.ProcessWait = processSched()
	seedStart := time.Now()
	found, s, err := loadSeed(ctx, root, seedFile, live, stderr, tweak...)
	o.Startup.Seed = time.Since(seedStart).Seconds()
	switch {
	case err != nil:
		o.SeedErr = err
	case found.Disabled:
		o.Disabled = true
	default:
		o.Seed, o.SeedName, o.SeedData, o.SeedOrigin = s, found.Name, found.Data, found.Origin
		if write {
			o.Ended = reportHook(root, s.Report, nil)
		}
		runner.Redactor = bootstrap.NewRedactor(s)
		if host.Exists(root, bootstrap.BundleDir) {
			o.Bundle = root.Path(bootstrap.BundleDir)
		}
		if write {
			// Under the run lock (bootstrap.Options.Prepare): a run in
			// progress keeps its bundle.
			o.Prepare = func() (string, error) { return prepareBundle(root, found, s) }
		}
	}
	return o
}

// scrubBundle removes the plaintext Samba password files from the bundle
// once the seed completed: the passwords are set, and the copy would
// otherwise stay on disk indefinitely. A reseed copies them again.
func scrubBundle(o bootstrap.Options) error {
	if o.Seed == nil || o.Seed.Samba == nil || o.Root == nil {
		return nil
	}
	for _, u := range o.Seed.Samba.Users {
		if u.PasswordFile == "" || strings.HasPrefix(u.PasswordFile, "/") {
			continue
		}
		c, err := source.CleanRel(u.PasswordFile)
		if err != nil {
			continue
		}
		p := path.Join(bootstrap.BundleDir, c)
		if err := o.Root.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// prepareBundle copies the files the seed refers to into the state
// directory (checked against the signed manifest, if signed) and records
// the manifest's serial, so an older signed seed is refused from now on.
func prepareBundle(root host.Root, found *source.Found, s *seed.Seed) (string, error) {
	// The state directory is root-only, also when the bundle copy is the
	// first thing to create it.
	if err := root.MkdirAll(bootstrap.StateDir, 0o700, host.Owner{}); err != nil {
		return "", err
	}
	if refs := source.Referenced(s); len(refs) > 0 {
		if _, err := found.CopyBundle(root, bootstrap.BundleDir, refs); err != nil {
			return "", err
		}
	}
	if err := found.RecordSerial(root); err != nil {
		return "", err
	}
	if host.Exists(root, bootstrap.BundleDir) {
		return root.Path(bootstrap.BundleDir), nil
	}
	return "", nil
}

// loadSeed locates the seed (seed/source) and validates it strictly.
func loadSeed(ctx context.Context, root host.Root, seedFile string, live bool, stderr io.Writer, tweak ...func(*source.Options)) (*source.Found, *seed.Seed, error) {
	so := source.Options{
		Root:      root,
		Flag:      seedFile,
		Completed: host.Exists(root, bootstrap.CompletionFile),
		Log:       func(msg string) { fmt.Fprintf(stderr, "phoenix: seed: %s\n", msg) },
		Remote:    remoteOptions(root),
	}
	if !live {
		so.Wait = -1 // an offline root has no USB stick to wait for
		so.Remote.Wait = -1
	}
	for _, t := range tweak {
		t(&so)
	}
	found, err := source.Locate(ctx, so)
	if err != nil {
		return nil, nil, err
	}
	if found.Disabled {
		return found, nil, nil
	}
	s, err := seed.Load(found.Name, found.Data)
	if err != nil {
		return found, nil, err
	}
	if len(s.Hosts) > 0 || s.HostsRequired {
		eff, why, err := s.For(machineIdentity(root))
		if err != nil {
			return found, nil, err
		}
		fmt.Fprintf(stderr, "phoenix: seed: %s\n", why)
		s = eff
	}
	return found, s, nil
}

// rebootDBus asks systemd for reboot.target, like `systemctl reboot`,
// without a dbus-daemon (root talks to systemd's private socket).
func rebootDBus(ctx context.Context) error {
	conn, err := sdbus.NewWithContext(ctx)
	if err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := conn.StartUnitContext(ctx, "reboot.target", "replace-irreversibly", nil); err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	return nil
}

// printPlan prints each module's Check; pendingOnly limits it to what a
// run would apply (phoenix run --dry-run).
func printPlan(ctx context.Context, o bootstrap.Options, stdout, stderr io.Writer, pendingOnly bool) int {
	if o.Disabled {
		fmt.Fprintln(stdout, "phoenix: disabled; nothing would run")
		return exitOK
	}
	entries, err := bootstrap.Plan(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix: %v\n", err)
		return exitFailed
	}
	code := exitOK
	for _, pe := range entries {
		if pendingOnly && pe.State != bootstrap.Pending {
			continue
		}
		switch {
		case pe.State == bootstrap.Skipped:
			fmt.Fprintf(stdout, "%s: skipped (%s)\n", pe.Module, pe.Detail)
		case pe.Err != nil:
			fmt.Fprintf(stdout, "%s: check failed: %v\n", pe.Module, pe.Err)
			code = exitFailed
		case len(pe.Changes) == 0:
			fmt.Fprintf(stdout, "%s: converged%s\n", pe.Module, planNote(pe))
		default:
			fmt.Fprintf(stdout, "%s: %d change(s)%s\n", pe.Module, len(pe.Changes), planNote(pe))
			for _, c := range pe.Changes {
				fmt.Fprintf(stdout, "  - %s\n", c)
			}
		}
	}
	return code
}

func planNote(pe bootstrap.PlanEntry) string {
	switch {
	case pe.State == bootstrap.Pending && pe.Detail != "":
		return " (would run: " + pe.Detail + ")"
	case pe.State == bootstrap.Pending:
		return " (would run)"
	}
	return ""
}

// offlineExecEnv set to "host" makes commands for an offline root run on
// this machine's PATH, and a reboot request run `systemctl reboot` there.
// Only test harnesses set it: their fake tools and fake systemctl live on
// PATH and keep the simulated host's state.
const offlineExecEnv = "PHOENIX_OFFLINE_EXEC"

func hostExec() bool { return os.Getenv(offlineExecEnv) == "host" }

// offlineRunner runs an offline root's commands inside it (chroot, with no
// network namespace of this machine's), so `phoenix run --root DIR` never
// reconfigures, installs into or reboots the machine it runs on.
func offlineRunner(r *host.ExecRunner, root *host.DirRoot, live bool) host.Runner {
	if live || hostExec() {
		return r
	}
	return host.ChrootRunner{Dir: root.Dir(), Inner: r}
}

// offlineReboot replaces the reboot for an offline root: there is no target
// machine to reboot, so the cursor is kept and the operator told.
func offlineReboot(runner host.Runner, stderr io.Writer) func(context.Context) error {
	return func(ctx context.Context) error {
		if !hostExec() {
			fmt.Fprintln(stderr, "phoenix: offline root: not rebooting this machine; boot the target to continue the run")
			return nil
		}
		_, err := runner.Run(ctx, host.Cmd{Name: "systemctl", Args: []string{"reboot"}, Timeout: time.Minute})
		return err
	}
}

// seenThisBoot says why a `run --changed` has nothing to do, or "" when it
// must run: the last run (status.json) was in this very boot and used a
// seed with the same digest. phoenix-reseed.service runs at every boot
// (after phoenix.service) and on every change of the seed file: this keeps
// it from running a seed a second time in the boot that already ran it
// (a failed first run stays failed until the admin acts, as
// phoenix.service's Restart=no means), while a seed replaced while the host
// was off (an earlier boot's status) or a new seed always runs. A seed that
// converged is cheap to run anyway: the engine compares digests only.
func seenThisBoot(root host.Root, seedFile string) string {
	data, err := os.ReadFile(seedFile)
	if err != nil {
		return "" // the run reports it
	}
	st, found, err := bootstrap.ReadStatus(root)
	if err != nil || !found || st.BootID != bootstrap.ReadBootID(root) || st.Seed.Digest != bootstrap.Digest(data) {
		return ""
	}
	switch st.State {
	case bootstrap.Done:
		return "seed unchanged since this boot's run; nothing to do"
	case bootstrap.Rebooting:
		return "this boot's run of this seed already asked for a reboot; nothing to do until it happens"
	case bootstrap.Failed, bootstrap.Invalid:
		return fmt.Sprintf("this boot's run of this seed ended %s; not retrying (see `phoenix status`; `phoenix run` retries)", st.State)
	}
	return ""
}
