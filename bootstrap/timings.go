package bootstrap

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// SlowestKept is how many of a module's commands its record keeps, the
// slowest first: enough to see where the time went (`phoenix status
// --timings`), small enough that status.json stays one quick read.
const SlowestKept = 5

// Commands sums up the external commands one module ran: how many, their
// total wall time, and the slowest of them.
type Commands struct {
	Count   int     `json:"count"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the CPU time (user and system) of the commands and
	// the children each waited for, as wait4(2) reports it for each
	// (host.Output.CPU): a module's own commands only, also while other
	// modules run beside it (the early stage).
	CPUSeconds float64       `json:"cpu_seconds,omitempty"`
	Slowest    []CommandTime `json:"slowest,omitempty"`
}

// CommandTime is one command's wall time. Command is argv only, redacted
// (host.Cmd.String: stdin, where secrets travel, shows as "<stdin>").
type CommandTime struct {
	Command  string  `json:"command"`
	Seconds  float64 `json:"seconds"`
	ExitCode int     `json:"exit_code,omitempty"` // -1: killed, timed out or not started
}

// add counts one command and keeps it if it is among the slowest.
func (c *Commands) add(t CommandTime) {
	c.Count++
	c.Seconds += t.Seconds
	// Descending: a slower command sorts first; equal ones keep run order.
	i, _ := slices.BinarySearchFunc(c.Slowest, t.Seconds, func(x CommandTime, s float64) int {
		if x.Seconds >= s {
			return -1
		}
		return 1
	})
	if i >= SlowestKept {
		return
	}
	c.Slowest = slices.Insert(c.Slowest, i, t)
	if len(c.Slowest) > SlowestKept {
		c.Slowest = c.Slowest[:SlowestKept]
	}
}

// merge adds another record of the same module (the part of its run
// before a reboot).
func (c *Commands) merge(o *Commands) {
	if o == nil {
		return
	}
	count, secs := c.Count+o.Count, c.Seconds+o.Seconds
	for _, t := range o.Slowest {
		c.add(t)
	}
	c.Count, c.Seconds = count, secs
	c.CPUSeconds += o.CPUSeconds
}

// selfCPU is this process's CPU time in seconds, all its threads
// (getrusage(2), RUSAGE_SELF), or with thread set only the calling
// thread's (RUSAGE_THREAD: a module running beside others, on a goroutine
// locked to its thread); zero where the call fails. A module's share is
// the difference across its run.
func selfCPU(thread bool) float64 {
	if thread {
		return rusageSeconds(syscall.RUSAGE_THREAD)
	}
	return rusageSeconds(syscall.RUSAGE_SELF)
}

// runCPU is the process's CPU time so far and its waited-for children's.
func runCPU() *RunCPU {
	return &RunCPU{Phoenix: rusageSeconds(syscall.RUSAGE_SELF), Commands: rusageSeconds(syscall.RUSAGE_CHILDREN)}
}

func rusageSeconds(who int) float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// timer collects one module's command times; modules may run commands
// from several goroutines (lxc creates containers in parallel).
type timer struct {
	mu  sync.Mutex
	cmd Commands
	red *host.Redactor
}

func (t *timer) record(c host.Cmd, d time.Duration, out host.Output, err error) {
	ct := CommandTime{Command: t.red.String(c.String()), Seconds: d.Seconds()}
	var ee *host.ExitError
	switch {
	case errors.As(err, &ee):
		ct.ExitCode = ee.Code
	case err != nil:
		ct.ExitCode = -1
	}
	t.mu.Lock()
	t.cmd.add(ct)
	t.cmd.CPUSeconds += out.CPU.Seconds()
	t.mu.Unlock()
}

// result is what the timer collected, nil when the module ran nothing.
func (t *timer) result() *Commands {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cmd.Count == 0 {
		return nil
	}
	c := t.cmd
	c.Slowest = slices.Clone(c.Slowest)
	return &c
}

// timedRunner times every command a module runs, on the monotonic clock
// (Options.Now is for the records' timestamps, and tests fix it).
type timedRunner struct {
	next host.Runner
	t    *timer
}

func (r timedRunner) Run(ctx context.Context, c host.Cmd) (host.Output, error) {
	start := time.Now()
	out, err := r.next.Run(ctx, c)
	r.t.record(c, time.Since(start), out, err)
	return out, err
}
