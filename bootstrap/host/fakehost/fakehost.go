// Package fakehost is the recording fake Runner for tests. Commands are
// dispatched by name to handlers, which are usually stateful fakes of real
// tools (zpool, pct, ...) that follow the real tool's syntax and exit codes.
// Every call is recorded as argv only, the way the real runner logs it, so a
// golden call log proves what was run and that no secret reached argv.
package fakehost

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Call is one invocation as the handler sees it.
type Call struct {
	Cmd   host.Cmd
	Stdin []byte
}

// Result is what a fake tool printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// OK is a successful result with stdout.
func OK(stdout string) Result { return Result{Stdout: stdout} }

// Fail is a failed result with stderr and an exit code.
func Fail(code int, stderr string) Result { return Result{Stderr: stderr, Code: code} }

// Handler fakes one tool.
type Handler func(ctx context.Context, c Call) Result

// Runner is a fake host.Runner. The zero value is not usable: call New.
type Runner struct {
	mu       sync.Mutex
	handlers map[string]Handler
	calls    []host.Cmd
	// Unknown is used for commands without a handler. By default they fail
	// with exit 127 like a missing command, so tests notice unexpected calls.
	Unknown Handler
}

var _ host.Runner = (*Runner)(nil)

// New returns a Runner with no handlers.
func New() *Runner { return &Runner{handlers: map[string]Handler{}} }

// Handle registers h for command name (the argv[0] as modules pass it).
func (r *Runner) Handle(name string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[name] = h
}

// Script makes name return the given results in order, then the last one.
func (r *Runner) Script(name string, results ...Result) {
	var mu sync.Mutex
	i := 0
	r.Handle(name, func(context.Context, Call) Result {
		mu.Lock()
		defer mu.Unlock()
		res := results[min(i, len(results)-1)]
		i++
		return res
	})
}

// Run implements host.Runner.
func (r *Runner) Run(ctx context.Context, c host.Cmd) (host.Output, error) {
	r.mu.Lock()
	stored := c
	stored.Args = append([]string(nil), c.Args...)
	stored.Stdin = nil // never kept: may hold secrets
	r.calls = append(r.calls, stored)
	h := r.handlers[c.Name]
	if h == nil {
		h = r.Unknown
	}
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return host.Output{}, err
	}
	var res Result
	if h == nil {
		res = Fail(127, fmt.Sprintf("%s: command not found (no fake registered)", c.Name))
	} else {
		res = h(ctx, Call{Cmd: c, Stdin: c.Stdin})
	}
	out := host.Output{Stdout: []byte(res.Stdout), Stderr: []byte(res.Stderr)}
	if res.Code != 0 {
		return out, &host.ExitError{Cmd: c.String(), Code: res.Code, Stderr: res.Stderr}
	}
	return out, nil
}

// Calls returns the recorded commands (stdin stripped).
func (r *Runner) Calls() []host.Cmd {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]host.Cmd(nil), r.calls...)
}

// Log returns one line per call, argv only: the golden call log.
func (r *Runner) Log() string {
	var b strings.Builder
	for _, c := range r.Calls() {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Reset forgets recorded calls (handlers and their state stay).
func (r *Runner) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Names lists the commands that have handlers, sorted.
func (r *Runner) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n []string
	for k := range r.handlers {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
