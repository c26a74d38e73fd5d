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

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "phoenix validate: interrupted")
			return exitUsage
		}
		data, err := readBounded(path)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix validate: %v\n", err)
			code = exitUsage
			continue
		}
		rep := &seed.Report{File: path}
		err = loadInterruptible(ctx, path, data)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "phoenix validate: interrupted")
			return exitUsage
		}
		if err != nil {
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
			fmt.Fprintf(stdout, "%s: %d problem(s)\n", path, len(rep.Problems)+rep.Omitted)
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

// readBounded reads at most seed.MaxSize+1 bytes, so a huge file (or
// /dev/zero) costs no more than the limit; Load then refuses it with the
// same message a boot gives.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, seed.MaxSize+1))
}

// loadInterruptible validates in a goroutine so that SIGTERM or Ctrl-C
// (main's context) ends the command at once, even inside one large seed.
func loadInterruptible(ctx context.Context, path string, data []byte) error {
	done := make(chan error, 1)
	go func() {
		_, err := seed.Load(path, data)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
