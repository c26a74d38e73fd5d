package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	register(command{name: "plan", summary: "show what each module would change (reads only, writes nothing)", run: runPlan})
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, seedFile, rootDir := engineFlags("phoenix plan", "as phoenix run finds it", stderr)
	if fs.Parse(args) != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: phoenix plan [--seed FILE] [--root DIR]")
		return exitUsage
	}
	o := engineOptions(ctx, *rootDir, *seedFile, stderr, false)
	return printPlan(ctx, o, stdout, stderr, false)
}
