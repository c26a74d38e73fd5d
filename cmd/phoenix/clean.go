package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

func init() {
	register(command{name: "clean", summary: "forget module markers so their work runs again", run: runClean})
}

func runClean(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rootDir := fs.String("root", "/", "act on the system mounted at `DIR`")
	module := fs.String("module", "", "forget the marker of module `NAME` (comma-separated list allowed)")
	all := fs.Bool("all", false, "forget every marker and the completion record")
	if fs.Parse(args) != nil || fs.NArg() != 0 || (*module == "") == !*all {
		fmt.Fprintln(stderr, "usage: phoenix clean [--root DIR] (--module NAME | --all)")
		return exitUsage
	}
	root := host.NewDirRoot(*rootDir)
	lock, err := bootstrap.TakeLock(ctx, root, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix clean: %v\n", err)
		return exitUsage
	}
	defer lock.Unlock()
	var names []string
	if !*all {
		names = strings.Split(*module, ",")
	}
	removed, err := bootstrap.Clean(root, names...)
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "phoenix clean: %v\n", err)
		return exitFailed
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to clean")
		return exitOK
	}
	fmt.Fprintln(stdout, "the next `phoenix run` (or boot, with phoenix.service enabled) does that work again")
	return exitOK
}
