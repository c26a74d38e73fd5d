package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-pve/phoenix/modules/users/fake"
)

// The host-module scripts (testdata/script/host_*.txtar) run the real host
// and users modules through `phoenix run --root $WORK/root`. The shadow
// tools and visudo are the real ones (useradd --root edits only the
// script's root); pveum is the stateful fake of modules/users/fake, its
// state in $FAKE_STATE. ifreload and ping stand in for the network: ping
// fails while $FAKE_STATE/unreachable exists, so a script can make a
// network change fail its confirmation and watch the rollback.
func init() {
	testCommands["pveum"] = func() { os.Exit(fake.Main(os.Args[1:], os.Stdout, os.Stderr)) }
	testCommands["ifreload"] = fakeNetTool
	testCommands["ping"] = fakeNetTool
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		if e.Getenv("FAKE_STATE") == "" {
			e.Setenv("FAKE_STATE", filepath.Join(e.WorkDir, "fake-state"))
		}
		return nil
	})
}

// fakeNetTool logs its call to $FAKE_STATE/net.log; ping fails while
// $FAKE_STATE/unreachable exists.
func fakeNetTool() {
	dir := os.Getenv("FAKE_STATE")
	_ = os.MkdirAll(dir, 0o755)
	name := filepath.Base(os.Args[0])
	f, err := os.OpenFile(filepath.Join(dir, "net.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintln(f, name+" "+strings.Join(os.Args[1:], " "))
		f.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "unreachable")); err == nil && name == "ping" {
		fmt.Println("1 packets transmitted, 0 received, 100% packet loss")
		os.Exit(1)
	}
	os.Exit(0)
}
