package host

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
)

// Redactor scrubs known secrets (password hashes, NT hashes, the contents
// of password files) out of text before it is logged, recorded or shown.
// Modules should never put a secret into argv or an error in the first
// place; the Redactor is the second line of defence for what a failing
// tool echoes back on stderr. A nil *Redactor redacts nothing.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first, so a secret containing another is scrubbed whole
}

// Redacted replaces every secret in redacted text.
const Redacted = "<redacted>"

// minSecret is the shortest string treated as a secret: "!" or "*" (locked
// password markers) or a one-letter value would otherwise scrub ordinary
// text.
const minSecret = 6

// NewRedactor returns a Redactor for secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers more secrets. Strings shorter than 6 bytes are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < minSecret {
			continue
		}
		dup := false
		for _, have := range r.secrets {
			dup = dup || have == s
		}
		if !dup {
			r.secrets = append(r.secrets, s)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

// String returns s with every secret replaced by <redacted>.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// Strings redacts each element of ss into a new slice.
func (r *Redactor) Strings(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.String(s)
	}
	return out
}

// Error returns err unchanged when its message holds no secret; otherwise an
// error whose message is redacted. An *ExitError keeps its type (with
// redacted fields) so ExitCode and errors.As still work.
func (r *Redactor) Error(err error) error {
	if err == nil || r == nil {
		return err
	}
	msg := r.String(err.Error())
	var ee, clean *ExitError
	if errors.As(err, &ee) {
		clean = &ExitError{Cmd: r.String(ee.Cmd), Code: ee.Code, Stderr: r.String(ee.Stderr)}
	}
	if msg == err.Error() && (clean == nil || *clean == *ee) {
		return err
	}
	// Identity, not a match through wrapping: err is the ExitError itself.
	if clean != nil && any(err) == any(ee) {
		return clean
	}
	return &redactedError{msg: msg, exit: clean, cause: err}
}

// redactedError hides a secret-bearing message but keeps errors.Is working
// (context.Canceled, fs.ErrNotExist) through its cause; errors.As for
// *ExitError finds the redacted copy first.
type redactedError struct {
	msg   string
	exit  *ExitError
	cause error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.cause, target) }

func (e *redactedError) As(target any) bool {
	if p, ok := target.(**ExitError); ok && e.exit != nil {
		*p = e.exit
		return true
	}
	return false
}

// RedactingRunner wraps a Runner so that the errors it returns never carry
// a secret (tools sometimes echo their input on stderr).
type RedactingRunner struct {
	Runner   Runner
	Redactor *Redactor
}

var _ Runner = RedactingRunner{}

// Run implements Runner.
func (r RedactingRunner) Run(ctx context.Context, c Cmd) (Output, error) {
	out, err := r.Runner.Run(ctx, c)
	return out, r.Redactor.Error(err)
}
