package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/phoenix-pve/phoenix/seed"
)

// validate checks seed files without running anything: the same strict
// load the boot does, so a seed that passes here passes there.
func init() {
	register(command{name: "validate", summary: "check seed files and report every problem", run: runValidate})
}

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output `FORMAT`: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: phoenix validate [--format text|json] FILE...")
		fmt.Fprintln(stderr, "exit status: 0 valid, 1 invalid, 2 usage or I/O error")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "phoenix validate: unknown format %q (text or json)\n", *format)
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	var reports []json.RawMessage
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix validate: %v\n", err)
			code = exitUsage
			continue
		}
		rep := &seed.Report{File: path}
		if _, err := seed.Load(path, data); err != nil {
			if !errors.As(err, &rep) {
				fmt.Fprintf(stderr, "phoenix validate: %s: %v\n", path, err)
				code = exitUsage
				continue
			}
			if code == exitOK {
				code = exitFailed
			}
		}
		if *format == "json" {
			reports = append(reports, rep.JSON())
			continue
		}
		if len(rep.Problems) == 0 {
			fmt.Fprintf(stdout, "%s: valid\n", path)
		} else {
			fmt.Fprintln(stdout, rep.Error())
			fmt.Fprintf(stdout, "%s: %d problem(s)\n", path, len(rep.Problems))
		}
	}
	if *format == "json" {
		if reports == nil {
			reports = []json.RawMessage{}
		}
		b, _ := json.MarshalIndent(reports, "", "  ")
		fmt.Fprintln(stdout, string(b))
	}
	return code
}
