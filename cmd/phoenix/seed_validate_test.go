package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

// The validate_*.txtar scripts check the shipped example and the shipped
// schema: copy them into each script's work directory.
func init() {
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		for src, dst := range map[string]string{
			"../../docs/examples/seed.yaml": "example.yaml",
			"../../docs/schema.json":        "shipped-schema.json",
		} {
			b, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(e.WorkDir, dst), b, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}
