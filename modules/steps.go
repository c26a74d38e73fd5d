package modules

import (
	"context"
	"fmt"
)

// Steps is one run of a module's Converge: the reads are the same in both
// kinds of run, and each change goes through Do, which makes it (Apply) or
// only lists it (Check and `phoenix plan`, Dry). Because Check and Apply
// are the same code, a plan cannot list other changes than Apply makes.
type Steps struct {
	Env *Env
	// Dry is set for Check: Do only records, nothing changes.
	Dry     bool
	Changes []string
	Notes   []string
	// Reboot asks the engine to persist the cursor and reboot; Converge
	// runs again after the reboot and must then verify and finish.
	Reboot bool
	Reason string
}

// Do records desc as a change and, unless this is a dry run, says it and
// runs fn. A nil fn only records the change.
func (s *Steps) Do(desc string, fn func() error) error {
	if !s.Dry && fn != nil {
		s.Env.Say(desc)
	}
	return s.DoQuiet(desc, fn)
}

// DoQuiet is Do without the progress line, for changes a module announces
// its own way.
func (s *Steps) DoQuiet(desc string, fn func() error) error {
	s.Changes = append(s.Changes, desc)
	if s.Dry || fn == nil {
		return nil
	}
	return fn()
}

// Say shows a progress line, in Apply only.
func (s *Steps) Say(msg string) {
	if !s.Dry {
		s.Env.Say(msg)
	}
}

// Note adds an informational line for status.
func (s *Steps) Note(format string, a ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, a...))
}

// RebootFor asks for a reboot (Apply only: a dry run never reboots).
func (s *Steps) RebootFor(reason string) {
	if !s.Dry {
		s.Reboot, s.Reason = true, reason
	}
}

// Result is the Apply result of the changes and notes recorded so far.
func (s *Steps) Result() Result {
	return Result{Changed: s.Changes, Notes: s.Notes, Reboot: s.Reboot, Reason: s.Reason}
}

// Check runs m's Converge dry: it only reads, and lists what Apply would
// change; an empty list means converged.
func Check(ctx context.Context, m Module, env *Env) ([]string, error) {
	s := &Steps{Env: env, Dry: true}
	if err := m.Converge(ctx, s); err != nil {
		return nil, err
	}
	return s.Changes, nil
}

// Apply runs m's Converge for real and returns what it changed. On an
// error the result still holds the changes made before it.
func Apply(ctx context.Context, m Module, env *Env) (Result, error) {
	s := &Steps{Env: env}
	err := m.Converge(ctx, s)
	return s.Result(), err
}

// Split is Converge from a separate plan and apply, for the engine and
// fault tests' scripted modules only: plan runs in a dry run, apply
// otherwise. Every module in modules/ converges through Do instead, which
// is what keeps its plan and its run the same code (testkit.Contract).
func (s *Steps) Split(ctx context.Context, plan func(context.Context, *Env) ([]string, error), apply func(context.Context, *Env) (Result, error)) error {
	if s.Dry {
		changes, err := plan(ctx, s.Env)
		s.Changes = append(s.Changes, changes...)
		return err
	}
	r, err := apply(ctx, s.Env)
	s.Changes = append(s.Changes, r.Changed...)
	s.Notes = append(s.Notes, r.Notes...)
	if r.Reboot {
		s.RebootFor(r.Reason)
	}
	return err
}
