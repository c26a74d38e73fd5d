package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Cmd is one external command. Args is an argv slice: never a shell string
// built from seed values. Secrets travel in Stdin, which is never logged.
type Cmd struct {
	Name    string
	Args    []string
	Env     []string      // extra KEY=VALUE pairs on top of the runner's environment
	Stdin   []byte        // may hold secrets: never logged, recorded or shown
	Timeout time.Duration // 0 means the runner's default
	Dir     string
}

// String renders the command for logs: argv only, never stdin.
func (c Cmd) String() string {
	parts := make([]string, 0, len(c.Args)+1)
	parts = append(parts, c.Name)
	for _, a := range c.Args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	s := strings.Join(parts, " ")
	if len(c.Stdin) > 0 {
		s += " <stdin>"
	}
	return s
}

// Output is what a finished command printed, and the CPU it used.
type Output struct {
	Stdout []byte
	Stderr []byte
	// CPU is the command's user and system time, with its children's that
	// it waited for (wait4(2)'s rusage); zero where it did not start, or a
	// fake ran it.
	CPU time.Duration
}

// Runner runs external commands.
type Runner interface {
	Run(ctx context.Context, cmd Cmd) (Output, error)
}

// ExitError is a command that ran and failed. Its message names the command,
// the exit code and the end of its stderr, which is what an operator needs.
type ExitError struct {
	Cmd    string // Cmd.String(): argv only
	Code   int    // -1 when killed or timed out
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", e.Cmd, e.Code)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + tail(s, 2000)
	}
	return msg
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct {
	// Timeout applies to commands that set none. Zero means 30 minutes.
	Timeout time.Duration
	// Env is added to every command, after os.Environ().
	Env []string
	// Log, when set, is told each command line (argv only, redacted) before
	// it runs.
	Log func(cmd string)
	// Redactor scrubs known secrets from the logged command line and from
	// the returned error (tools sometimes echo their input on stderr).
	Redactor *Redactor
}

// NewExecRunner returns the production runner: apt and debconf never prompt.
func NewExecRunner() *ExecRunner {
	return &ExecRunner{Env: []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8"}}
}

// Run implements Runner.
func (r *ExecRunner) Run(ctx context.Context, c Cmd) (Output, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = r.Timeout
	}
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r.Log != nil {
		r.Log(r.Redactor.String(c.String()))
	}
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = append(append(os.Environ(), r.Env...), c.Env...)
	cmd.Dir = c.Dir
	// A timeout must stop the whole tree: apt and dkms start children that
	// would otherwise keep running and keep our pipes open. The command gets
	// its own process group and the group is killed on cancel; WaitDelay
	// bounds the wait for grandchildren still holding stdout/stderr.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	err := cmd.Run()
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if ps := cmd.ProcessState; ps != nil {
		out.CPU = ps.UserTime() + ps.SystemTime()
	}
	if err == nil {
		return out, nil
	}
	return out, r.Redactor.Error(exitError(ctx, c, timeout, stderr.String(), err))
}

func exitError(ctx context.Context, c Cmd, timeout time.Duration, stderr string, err error) error {
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return &ExitError{Cmd: c.String(), Code: -1, Stderr: fmt.Sprintf("%s (after %s)\n%s", ctx.Err(), timeout, stderr)}
	case errors.As(err, &ee):
		return &ExitError{Cmd: c.String(), Code: ee.ExitCode(), Stderr: stderr}
	default:
		return fmt.Errorf("%s: %w", c.String(), err)
	}
}

// ExitCode returns the exit code of a failed command, 0 for nil, -1 for any
// other error.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}
