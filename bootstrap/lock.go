package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// ErrLocked is returned when another phoenix run holds the lock past the
// wait.
var ErrLocked = errors.New("another phoenix run is in progress")

// Lock is the held run lock.
type Lock struct{ f *os.File }

// Unlock releases the lock. Closing the file would release it too, so a
// crashed run never leaves a stale lock behind.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// TakeLock takes the exclusive flock on LockFile under root, waiting up to
// wait (polling, so ctx cancellation is honoured).
func TakeLock(ctx context.Context, r host.Root, wait time.Duration) (*Lock, error) {
	p := r.Path(LockFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", LockFile, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w (waited %s; see `phoenix status`)", LockFile, ErrLocked, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Locked reports whether a run currently holds the lock in root.
func Locked(r host.Root) bool {
	f, err := os.Open(r.Path(LockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	return false
}
