package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func init() {
	register(command{name: "plan", summary: "show what each module would change (reads only, writes nothing)", run: runPlan})
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seedFile := fs.String("seed", "", "seed `FILE` (default: as phoenix run finds it)")
	rootDir := fs.String("root", "/", "act on the system mounted at `DIR`")
	if fs.Parse(args) != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: phoenix plan [--seed FILE] [--root DIR]")
		return exitUsage
	}
	o := engineOptions(ctx, *rootDir, *seedFile, stderr, false)
	return printPlan(ctx, o, stdout, stderr, false)
}
