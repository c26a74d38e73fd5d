package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/google/renameio/v2"
)

// hookScript is the Proxmox installer first-boot hook: see bake_hook.sh.
//
//go:embed bake_hook.sh
var hookScript []byte

// maxHook is the size limit of proxmox-auto-install-assistant's
// --on-first-boot executable.
const maxHook = 1 << 20

func init() {
	register(command{name: "bake", summary: "bake hook -o FILE: write the Proxmox installer first-boot hook", run: runBake})
}

func runBake(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "hook" {
		fmt.Fprintln(stderr, "usage: phoenix bake hook -o FILE")
		return exitUsage
	}
	fl := flag.NewFlagSet("bake hook", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("o", "", "write the hook to `FILE` (- for stdout)")
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() != 0 || *out == "" {
		fmt.Fprintln(stderr, "usage: phoenix bake hook -o FILE")
		return exitUsage
	}
	if len(hookScript) > maxHook {
		fmt.Fprintf(stderr, "phoenix bake: hook is %d bytes, over the installer's %d\n", len(hookScript), maxHook)
		return exitFailed
	}
	if *out == "-" {
		_, _ = stdout.Write(hookScript)
		return exitOK
	}
	if err := renameio.WriteFile(*out, hookScript, 0o755); err != nil {
		fmt.Fprintf(stderr, "phoenix bake: %v\n", err)
		return exitUsage
	}
	// renameio keeps an existing file's mode: make sure it is executable.
	if err := os.Chmod(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "phoenix bake: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes); use it with: proxmox-auto-install-assistant prepare-iso --on-first-boot %s\n", *out, len(hookScript), *out)
	return exitOK
}
