package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// PlanEntry is what one module would do.
type PlanEntry struct {
	Module string
	// State is Skipped (not in the seed), Done (its marker matches the
	// seed section) or Pending (a run would apply it).
	State  State
	Detail string
	// Changes is what the module's Check says Apply would change; empty
	// means converged.
	Changes []string
	Err     error
}

// ErrReadOnly is returned for any write a module's Check attempts.
var ErrReadOnly = errors.New("read-only: phoenix plan writes nothing")

// Plan runs every active module's read-only Check (Env.DryRun set) and says
// what it would change. It takes no lock and writes nothing: the Root is
// wrapped so that any write fails with ErrReadOnly.
func Plan(ctx context.Context, o Options) ([]PlanEntry, error) {
	if o.Seed == nil {
		if o.SeedErr != nil {
			return nil, o.SeedErr
		}
		return nil, errors.New("plan: no seed")
	}
	if o.BootID == "" {
		o.BootID = ReadBootID(o.Root)
	}
	red := NewRedactor(o.Seed)
	markers, err := ReadMarkers(o.Root)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	ro := readOnly{o.Root}
	var out []PlanEntry
	for _, m := range o.Modules {
		name := m.Name()
		if len(o.Only) > 0 && !slices.Contains(o.Only, name) {
			continue
		}
		pe := PlanEntry{Module: name, State: Pending}
		if !m.Active(o.Seed) {
			pe.State, pe.Detail = Skipped, "not in the seed"
			if _, ok := markers[name]; ok {
				pe.Detail = "no longer managed: removed from the seed, nothing undone"
			}
			out = append(out, pe)
			continue
		}
		if mk, ok := markers[name]; ok && mk.Digest == modules.Digest(m, o.Seed) {
			pe.State = Done
		} else if ok {
			pe.Detail = "seed section changed"
		}
		env := &modules.Env{
			Seed: o.Seed, Runner: host.RedactingRunner{Runner: o.Runner, Redactor: red}, Root: ro,
			Store: modules.NewStore(ro), Bundle: o.Bundle, InRoot: o.InRoot,
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Select: o.Select[name], BootID: o.BootID,
		}
		changes, err := modules.Check(ctx, m, env)
		pe.Changes, pe.Err = red.Strings(changes), red.Error(err)
		out = append(out, pe)
	}
	return out, nil
}

// readOnly refuses every change.
type readOnly struct{ host.Root }

func (r readOnly) WriteFile(p string, _ []byte, _ fs.FileMode, _ host.Owner) error {
	return fmt.Errorf("write %s: %w", p, ErrReadOnly)
}
func (r readOnly) MkdirAll(p string, _ fs.FileMode, _ host.Owner) error {
	return fmt.Errorf("mkdir %s: %w", p, ErrReadOnly)
}
func (r readOnly) Remove(p string) error { return fmt.Errorf("remove %s: %w", p, ErrReadOnly) }
func (r readOnly) Symlink(_, p string) error {
	return fmt.Errorf("symlink %s: %w", p, ErrReadOnly)
}
func (r readOnly) Chmod(p string, _ fs.FileMode) error {
	return fmt.Errorf("chmod %s: %w", p, ErrReadOnly)
}
func (r readOnly) Chown(p string, _ host.Owner) error {
	return fmt.Errorf("chown %s: %w", p, ErrReadOnly)
}
