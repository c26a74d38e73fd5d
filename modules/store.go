package modules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// StoreDir is where module stores live inside the state directory.
const StoreDir = "/var/lib/phoenix/data"

// Store is a small JSON key-value store under the state directory, written
// atomically through the Root. Keys are slash-separated, e.g.
// "nvidia/phase" or "lxc/101/steps".
type Store struct {
	Root host.Root
	Dir  string // in-root directory, StoreDir by default
}

// NewStore returns a Store in the default directory.
func NewStore(r host.Root) *Store { return &Store{Root: r, Dir: StoreDir} }

func (s *Store) file(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("store: bad key %q", key)
	}
	return path.Join(s.Dir, key+".json"), nil
}

// Get decodes key into v and reports whether it was present.
func (s *Store) Get(key string, v any) (bool, error) {
	f, err := s.file(key)
	if err != nil {
		return false, err
	}
	b, err := s.Root.ReadFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("store: %s: %w", key, err)
	}
	return true, nil
}

// Put stores v under key atomically (mode 0600: records may name users).
func (s *Store) Put(key string, v any) error {
	f, err := s.file(key)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("store: %s: %w", key, err)
	}
	if err := s.Root.WriteFile(f, append(b, '\n'), 0o600, host.Owner{}); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(key string) error {
	f, err := s.file(key)
	if err != nil {
		return err
	}
	if err := s.Root.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
