package main

import (
	"context"
	"fmt"
	"io"

	"github.com/phoenix-pve/phoenix/seed"
)

// schema prints the seed JSON Schema, for editors and other validators.
func init() {
	register(command{name: "schema", summary: "print the seed JSON Schema (draft 2020-12)", run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
		if len(args) > 0 {
			fmt.Fprintln(stderr, "usage: phoenix schema")
			return exitUsage
		}
		if _, err := stdout.Write(seed.Schema()); err != nil {
			return exitUsage
		}
		return exitOK
	}})
}
