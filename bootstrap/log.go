package bootstrap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Journal sends one structured entry; the CLI wires go-systemd's
// journal.Send here when journald is running.
type Journal func(msg string, priority int, fields map[string]string) error

// output is where the engine's lines go: the log file under the root, and
// either the journal (with MODULE= and SEED_DIGEST= fields) or plain
// stderr. Every line is redacted first.
type output struct {
	mu      sync.Mutex
	file    *os.File
	stderr  io.Writer
	journal Journal
	red     *host.Redactor
	now     func() time.Time
	digest  string
}

func openOutput(r host.Root, o *Options, red *host.Redactor) *output {
	out := &output{stderr: o.Stderr, journal: o.Journal, red: red, now: o.Now}
	p := r.Path(LogFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err == nil {
		// Appending is not atomic, and need not be: the log is history,
		// the records in the state directory are the truth.
		out.file, _ = os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}
	return out
}

func (o *output) close() {
	if o.file != nil {
		o.file.Close()
	}
}

// syslog priorities as journald uses them.
const (
	prioErr    = 3
	prioNotice = 5
	prioInfo   = 6
)

func (o *output) line(module string, prio int, msg string) {
	msg = o.red.String(msg)
	o.mu.Lock()
	defer o.mu.Unlock()
	prefix := "phoenix"
	if module != "" {
		prefix = module
	}
	if o.file != nil {
		fmt.Fprintf(o.file, "%s %s: %s\n", o.now().UTC().Format(time.RFC3339), prefix, msg)
	}
	if o.journal != nil {
		fields := map[string]string{"SYSLOG_IDENTIFIER": "phoenix"}
		if module != "" {
			fields["MODULE"] = module
		}
		if o.digest != "" {
			fields["SEED_DIGEST"] = o.digest
		}
		if o.journal(prefix+": "+msg, prio, fields) == nil && o.stderr == nil {
			return
		}
	}
	if o.stderr != nil {
		fmt.Fprintf(o.stderr, "phoenix: %s%s\n", moduleTag(module), msg)
	}
}

// fileLine writes to the log file only.
func (o *output) fileLine(msg string) {
	if o.file == nil {
		return
	}
	msg = o.red.String(msg)
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.file, "%s %s\n", o.now().UTC().Format(time.RFC3339), msg)
}

func moduleTag(m string) string {
	if m == "" {
		return ""
	}
	return m + ": "
}

// logHandler is the slog.Handler behind Env.Log: a module's log lines go to
// the same redacted output, tagged with the module's name.
type logHandler struct {
	out    *output
	module string
	attrs  string
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	prio := prioInfo
	if r.Level >= slog.LevelError {
		prio = prioErr
	} else if r.Level >= slog.LevelWarn {
		prio = prioNotice
	}
	h.out.line(h.module, prio, b.String())
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		c.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return &c
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
