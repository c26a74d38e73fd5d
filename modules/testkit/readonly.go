package testkit

import (
	"fmt"
	"io/fs"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
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
