package fakehost

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadState reads a stateful fake's JSON state file into v. A missing file
// is a fresh state: v is left as it is and the error is nil. Fakes keep
// their state in a file so the same fake serves in-process and as a command
// on PATH in testscript ($FAKE_STATE).
func LoadState(file string, v any) error {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// SaveState writes v to a fake's JSON state file, indented, creating the
// state directory.
func SaveState(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}
