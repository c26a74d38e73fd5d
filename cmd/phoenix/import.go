package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/phoenix-pve/phoenix/migrate"
	"github.com/phoenix-pve/phoenix/seed"
)

func init() {
	register(command{name: "import", summary: "convert the bash originals' JSON configuration into a seed on stdout", run: runImport})
}

// runImport is `phoenix import`: the converter is package migrate; this
// reads the files, prints the seed and the report, and checks the seed
// validates. Exit 0: nothing lost; 1: something needs attention; 2: usage.
func runImport(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hostname := fs.String("hostname", "", "the host's `NAME` (host.hostname; the originals never set one)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: phoenix import [--hostname NAME] HYPERVISOR_CONFIG.json [phoenix_lxc_configs.json]")
		fmt.Fprintln(stderr, "exit status: 0 all carried over, 1 something needs attention (listed on stderr), 2 usage or I/O error")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || fs.NArg() > 2 {
		if err == nil {
			fs.Usage()
		}
		return exitUsage
	}
	var files []migrate.File
	for _, p := range fs.Args() {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix import: %v\n", err)
			return exitUsage
		}
		files = append(files, migrate.File{Name: filepath.Base(p), Data: data})
	}
	res, err := migrate.Convert(files, migrate.Options{Hostname: *hostname})
	if err != nil {
		fmt.Fprintf(stderr, "phoenix import: %v\n", err)
		return exitUsage
	}
	out, err := res.YAML()
	if err != nil {
		fmt.Fprintf(stderr, "phoenix import: %v\n", err)
		return exitUsage
	}
	code := exitOK
	for _, p := range res.Problems {
		fmt.Fprintf(stderr, "%s\n", p)
		code = exitFailed
	}
	// The seed must validate: a converter bug must not hand the user a
	// seed that `phoenix run` refuses.
	if _, err := seed.Load("seed.yaml", out); err != nil {
		fmt.Fprintf(stderr, "phoenix import: the converted seed does not validate (a bug in phoenix import; please report it):\n%v\n", err)
		code = exitFailed
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "phoenix import: %v\n", err)
		return exitUsage
	}
	if code != exitOK {
		fmt.Fprintf(stderr, "phoenix import: %d item(s) need attention (above); the seed on stdout has everything else\n", len(res.Problems))
	}
	return code
}
