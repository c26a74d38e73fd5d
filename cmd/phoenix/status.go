package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

func init() {
	register(command{name: "status", summary: "show the provisioning state (exit 0 done, 1 failed, 2 pending or running)", run: runStatus})
}

// statusPoll is how often --wait rereads status.json.
var statusPoll = 250 * time.Millisecond

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rootDir := fs.String("root", "/", "act on the system mounted at `DIR`")
	asJSON := fs.Bool("json", false, "print status.json")
	wait := fs.Bool("wait", false, "wait until the run is done or failed")
	timeout := fs.Duration("timeout", time.Hour, "give up waiting after `D` (exit 2)")
	timings := fs.Bool("timings", false, "where the time went: each module, slowest first, with its slowest commands")
	if fs.Parse(args) != nil || fs.NArg() != 0 || *timeout <= 0 || (*timings && *asJSON) {
		fmt.Fprintln(stderr, "usage: phoenix status [--root DIR] [--json | --timings] [--wait [--timeout D]]")
		return exitUsage
	}
	root := host.NewDirRoot(*rootDir)
	if *wait {
		if code, msg := waitStatus(ctx, root, *timeout); msg != "" {
			fmt.Fprintf(stderr, "phoenix status: %s\n", msg)
			if code != exitOK && code != exitFailed {
				return code
			}
		}
	}
	if *asJSON {
		b, err := root.ReadFile(bootstrap.StatusFile)
		if err != nil {
			fmt.Fprintln(stdout, `{"state": "pending", "modules": []}`)
			return exitPending
		}
		st, _, err := bootstrap.ReadStatus(root)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix status: %v\n", err)
			return exitUsage
		}
		stdout.Write(b)
		return st.State.ExitCode()
	}
	st, found, err := bootstrap.ReadStatus(root)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix status: %v\n", err)
		return exitUsage
	}
	if !found {
		fmt.Fprintln(stdout, "phoenix: no run yet (pending)")
		return exitPending
	}
	if *timings {
		printTimings(stdout, st)
	} else {
		printStatus(stdout, root, st)
	}
	return st.State.ExitCode()
}

// waitStatus polls until the run reaches a state it cannot leave on its
// own (done, failed, invalid, disabled), the timeout passes, or nothing is
// running and nothing will run (no lock holder, not rebooting, boot unit
// disabled), so it neither returns early nor hangs forever.
func waitStatus(ctx context.Context, root host.Root, timeout time.Duration) (int, string) {
	deadline := time.Now().Add(timeout)
	for {
		st, found, err := bootstrap.ReadStatus(root)
		if err == nil && found && st.State.Terminal() {
			return st.State.ExitCode(), ""
		}
		active := bootstrap.Locked(root) || (found && st.State == bootstrap.Rebooting) || bootstrap.BootEnabled(root)
		if !active {
			return exitPending, "no run in progress and none will start (boot unit disabled): run `phoenix run`"
		}
		if time.Now().After(deadline) {
			return exitPending, fmt.Sprintf("still not finished after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return exitPending, ctx.Err().Error()
		case <-time.After(statusPoll):
		}
	}
}

func printStatus(w io.Writer, root host.Root, st bootstrap.Status) {
	head := "phoenix: " + string(st.State)
	if st.Progress != "" && (st.State == bootstrap.Running || st.State == bootstrap.Rebooting) {
		head += " (" + st.Progress + ")"
	}
	if st.State == bootstrap.Running && !bootstrap.Locked(root) {
		head += " [no phoenix run holds the lock: the last run was interrupted; the next run resumes]"
	}
	fmt.Fprintln(w, head)
	if st.Seed.Origin != "" || st.Seed.Digest != "" {
		fmt.Fprintf(w, "seed: %s %s\n", st.Seed.Origin, shortDigest(st.Seed.Digest))
	}
	if st.Error != "" && len(st.Modules) == 0 || st.State == bootstrap.Invalid || st.State == bootstrap.Disabled {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, m := range st.Modules {
		line := fmt.Sprintf("  %s\t%s\t%s", m.Name, m.State, duration(m))
		var extra []string
		if m.Reboots > 0 {
			extra = append(extra, fmt.Sprintf("reboots %d", m.Reboots))
		}
		if m.Detail != "" {
			extra = append(extra, m.Detail)
		}
		fmt.Fprintln(tw, line+"\t"+strings.Join(extra, "; "))
		for _, it := range m.Items {
			fmt.Fprintf(tw, "    %s\t%s\t\t%s\n", it.Name, it.State, it.Detail)
		}
	}
	tw.Flush()
	for _, m := range st.Modules {
		if f := m.Failure; f != nil {
			fmt.Fprintf(w, "\n%s failed: %s\n", m.Name, f.Error)
			if f.Command != "" {
				fmt.Fprintf(w, "  command: %s\n  exit code: %d\n", f.Command, f.ExitCode)
			}
			if f.Stderr != "" {
				fmt.Fprintf(w, "  stderr:\n    %s\n", strings.ReplaceAll(f.Stderr, "\n", "\n    "))
			}
		}
	}
	if len(st.Unmanaged) > 0 {
		fmt.Fprintf(w, "\nno longer managed (left as they are): %s\n", strings.Join(st.Unmanaged, ", "))
	}
}

func duration(m bootstrap.ModuleStatus) string {
	switch {
	case m.Seconds > 0:
		return (time.Duration(m.Seconds * float64(time.Second))).Round(100 * time.Millisecond).String()
	case m.State == bootstrap.Running && !m.Started.IsZero():
		return "since " + m.Started.Local().Format("15:04:05")
	}
	return "-"
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// printTimings is `phoenix status --timings`, in the spirit of
// `systemd-analyze blame` and `cloud-init analyze blame`: the modules that
// ran, slowest first, each with its time, Phoenix's own CPU time in it, how
// much went to external commands and their CPU time (wall time beyond the
// CPU is waiting: for a disk, a lock, or a CPU the boot's services hold),
// and its slowest commands (argv only; what the records keep, see
// bootstrap.SlowestKept). A module's time is that of the last run that
// applied it, reboots included; modules done in earlier runs keep theirs.
func printTimings(w io.Writer, st bootstrap.Status) {
	fmt.Fprintf(w, "phoenix: %s\n", st.State)
	var ran []bootstrap.ModuleStatus
	for _, m := range st.Modules {
		if m.Seconds > 0 || m.Commands != nil {
			ran = append(ran, m)
		}
	}
	if len(ran) == 0 {
		fmt.Fprintln(w, "no module has run yet")
		return
	}
	slices.SortStableFunc(ran, func(a, b bootstrap.ModuleStatus) int { return cmp.Compare(b.Seconds, a.Seconds) })
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "took\tphoenix cpu\tcommands\tin commands\ttheir cpu\t  module")
	var total, cpu, inCmds, cmdCPU float64
	var count int
	for _, m := range ran {
		c := m.Commands
		if c == nil {
			c = &bootstrap.Commands{}
		}
		total, cpu, inCmds, cmdCPU, count = total+m.Seconds, cpu+m.CPUSeconds, inCmds+c.Seconds, cmdCPU+c.CPUSeconds, count+c.Count
		line := fmt.Sprintf("%s\t%s\t%d\t%s\t%s\t  %s %s", secs(m.Seconds), secs(m.CPUSeconds), c.Count, secs(c.Seconds), secs(c.CPUSeconds), m.Name, m.State)
		if m.Reboots > 0 {
			line += fmt.Sprintf(" (reboots %d)", m.Reboots)
		}
		fmt.Fprintln(tw, line)
		for _, t := range c.Slowest {
			cmd := t.Command
			if t.ExitCode != 0 {
				cmd += fmt.Sprintf(" [exit %d]", t.ExitCode)
			}
			fmt.Fprintf(tw, "%s\t\t\t\t\t      %s\n", secs(t.Seconds), cmd)
		}
	}
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t  total\n", secs(total), secs(cpu), count, secs(inCmds), secs(cmdCPU))
	tw.Flush()
	if span := modulesSpan(ran); span > 0 && span < total-0.001 {
		fmt.Fprintf(w, "at the same time (early stage): %s from the first module's start to the last one's end\n", secs(span))
	}
	if su := st.Startup; su != nil {
		stage := ""
		if su.Stage != "" {
			stage = " (" + su.Stage + " stage)"
		}
		fmt.Fprintf(w, "before the first module%s: %s (process start %s, seed %s, engine %s)\n",
			stage, secs(su.Total()), secs(su.Process), secs(su.Seed), secs(su.Engine))
	}
	if c := st.CPU; c != nil {
		fmt.Fprintf(w, "cpu of the run: phoenix %s (all its threads, from its start), its commands %s\n", secs(c.Phoenix), secs(c.Commands))
	}
}

// modulesSpan is the time from the first module's start to the last one's
// end, in seconds: below their total where modules ran at the same time
// (the early stage, bootstrap.Options.Early); 0 where one has no times.
func modulesSpan(ms []bootstrap.ModuleStatus) float64 {
	var first, last time.Time
	for _, m := range ms {
		if m.Started.IsZero() || m.Finished.IsZero() {
			return 0
		}
		if first.IsZero() || m.Started.Before(first) {
			first = m.Started
		}
		if m.Finished.After(last) {
			last = m.Finished
		}
	}
	return last.Sub(first).Seconds()
}

// secs renders seconds for the timing report: milliseconds below 10 s.
func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
