package testkit

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// ReadOnlyRoot wraps a Root for Check tests: reads pass through, every
// change fails and is recorded, so a test can assert that Check only reads.
type ReadOnlyRoot struct {
	host.Root
	mu     sync.Mutex
	Writes []string
}

// ReadOnly wraps r.
func ReadOnly(r host.Root) *ReadOnlyRoot { return &ReadOnlyRoot{Root: r} }

func (r *ReadOnlyRoot) deny(op, p string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Writes = append(r.Writes, op+" "+p)
	return fmt.Errorf("read-only root: %s %s", op, p)
}

func (r *ReadOnlyRoot) WriteFile(p string, _ []byte, _ fs.FileMode, _ host.Owner) error {
	return r.deny("write", p)
}
func (r *ReadOnlyRoot) MkdirAll(p string, _ fs.FileMode, _ host.Owner) error {
	return r.deny("mkdir", p)
}
func (r *ReadOnlyRoot) Remove(p string) error               { return r.deny("remove", p) }
func (r *ReadOnlyRoot) Symlink(_, p string) error           { return r.deny("symlink", p) }
func (r *ReadOnlyRoot) Chmod(p string, _ fs.FileMode) error { return r.deny("chmod", p) }
func (r *ReadOnlyRoot) Chown(p string, _ host.Owner) error  { return r.deny("chown", p) }

// CheckOnlyReads runs m.Check on env with env.Root made read-only, and fails
// the test if Check changed the root or found nothing to do (a converged
// host would prove nothing). Set env up with everything left to do.
func CheckOnlyReads(t *testing.T, m modules.Module, env *modules.Env) {
	t.Helper()
	ro := ReadOnly(env.Root)
	env.Root = ro
	pending, err := modules.Check(context.Background(), m, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 {
		t.Error("nothing pending: the test proves nothing")
	}
	if len(ro.Writes) != 0 {
		t.Errorf("Check changed the root: %q", ro.Writes)
	}
}

// Converge runs m.Apply on env and fails the test unless it succeeds and a
// Check right after finds nothing left to do. It returns Apply's result.
func Converge(t *testing.T, m modules.Module, env *modules.Env) modules.Result {
	t.Helper()
	res, err := modules.Apply(context.Background(), m, env)
	if err != nil {
		t.Fatal(err)
	}
	if pending, err := modules.Check(context.Background(), m, env); err != nil || len(pending) != 0 {
		t.Fatalf("not converged after Apply: %q %v", pending, err)
	}
	return res
}

// Contract is the check every module's package runs on its fresh fake
// host (newEnv returns one with everything left to do): a dry run only
// reads and finds work; on a second fresh host the changes Check lists are
// exactly those Apply then makes, in the same order; after Apply, Check
// finds nothing left (unless Apply asked for a reboot). It is what makes "plan and apply share one code
// path" a tested fact rather than a convention.
func Contract(t *testing.T, m modules.Module, newEnv func(t *testing.T) *modules.Env) {
	t.Helper()
	CheckOnlyReads(t, m, newEnv(t))
	env := newEnv(t)
	planned, err := modules.Check(context.Background(), m, env)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	res, err := modules.Apply(context.Background(), m, env)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !res.Reboot {
		// A reboot is the rest of the work (kernel, nvidia): only then may
		// Check still find some.
		if pending, err := modules.Check(context.Background(), m, env); err != nil || len(pending) != 0 {
			t.Fatalf("not converged after Apply: %q %v", pending, err)
		}
	}
	if fmt.Sprint(planned) != fmt.Sprint(res.Changed) {
		t.Errorf("Check listed what Apply did not do:\ncheck: %q\napply: %q", planned, res.Changed)
	}
}
