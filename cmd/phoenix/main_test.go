package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// testCommands are programs testscript scripts can run by name: phoenix
// itself and the fakes of external tools. Other _test.go files add theirs in
// init().
var testCommands = map[string]func(){
	"phoenix": func() { os.Exit(phoenixMain()) },
}

func TestMain(m *testing.M) {
	testscript.Main(m, testCommands)
}

// TestScripts runs every testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup:               scriptSetup,
	})
}

// scriptSetups let other test files prepare the script environment.
var scriptSetups []func(*testscript.Env) error

func scriptSetup(e *testscript.Env) error {
	for _, f := range scriptSetups {
		if err := f(e); err != nil {
			return err
		}
	}
	return nil
}
