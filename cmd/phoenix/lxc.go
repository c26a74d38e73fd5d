package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap"
)

// The two partial modes of the bash orchestrator (--lxc CTID and
// --setup-hypervisor), kept as verbs. Both go through the engine: same
// lock, same status, same markers (a module run with a container selection
// gets no marker, so the next full run still converges every container).

// lxcModule is the name of the container module: the part setup-hypervisor
// leaves out and the only one `phoenix lxc` runs.
const lxcModule = "lxc"

func init() {
	register(command{name: "lxc", summary: "provision only these containers (and what they depend on): lxc CTID...", run: runLXC})
	register(command{name: "setup-hypervisor", summary: "run only the host modules (everything but the containers)", run: runSetupHypervisor})
}

// parseMixed parses flags that may come before or after the positional
// arguments (`phoenix lxc 101 --seed s.yaml`).
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			pos = append(pos, args[0])
			args = args[1:]
		}
		if len(args) == 0 {
			return pos, nil
		}
	}
}

func runLXC(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, seedFile, rootDir := engineFlags("phoenix lxc", "the installed seed, then the usual sources", stderr)
	const usage = "usage: phoenix lxc CTID... [--seed FILE] [--root DIR]"
	ids, err := parseMixed(fs, args)
	if err != nil || len(ids) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err != nil || n < 100 || strconv.Itoa(n) != id {
			fmt.Fprintf(stderr, "phoenix lxc: %q is not a CTID\n%s\n", id, usage)
			return exitUsage
		}
	}
	o := engineOptions(ctx, *rootDir, *seedFile, stderr, true)
	if o.Seed != nil {
		var missing []string
		for _, id := range ids {
			if o.Seed.LXC == nil || o.Seed.LXC.Containers[id] == nil {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(stderr, "phoenix lxc: not a container of the seed: %s\n", strings.Join(missing, " "))
			return exitFailed
		}
	}
	o.Only = []string{lxcModule}
	o.Select = map[string][]string{lxcModule: ids}
	return partialRun(ctx, "phoenix lxc", o, "containers "+strings.Join(ids, " ")+" done", stdout, stderr)
}

func runSetupHypervisor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, seedFile, rootDir := engineFlags("phoenix setup-hypervisor", "the installed seed, then the usual sources", stderr)
	if fs.Parse(args) != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: phoenix setup-hypervisor [--seed FILE] [--root DIR]")
		return exitUsage
	}
	o := engineOptions(ctx, *rootDir, *seedFile, stderr, true)
	o.Only = nil
	for _, m := range o.Modules {
		if m.Name() != lxcModule {
			o.Only = append(o.Only, m.Name())
		}
	}
	if len(o.Only) == 0 {
		// An empty Only means every module to the engine.
		fmt.Fprintln(stdout, "phoenix: no host modules in this build; nothing run")
		return exitOK
	}
	return partialRun(ctx, "phoenix setup-hypervisor", o, "host modules done", stdout, stderr)
}

// partialRun runs the engine on part of the seed.
func partialRun(ctx context.Context, verb string, o bootstrap.Options, doneMsg string, stdout, stderr io.Writer) int {
	return engineRun(ctx, verb, o, func(bootstrap.Outcome) string { return doneMsg }, stdout, stderr)
}
