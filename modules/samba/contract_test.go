package samba_test

import (
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	aptfake "github.com/phoenix-pve/phoenix/modules/internal/apt/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/samba"
)

// The module contract: a dry run only reads, Check lists exactly the
// changes Apply makes, and Apply converges. The host has the samba package
// already: before it is installed, a dry run cannot run testparm or read
// the passdb, so its plan stops at "install samba" and a summary.
func TestContract(t *testing.T) {
	testkit.Contract(t, samba.New(), func(t *testing.T) *modules.Env {
		w := newWorld(t)
		w.apt = aptfake.New(samba.Package)
		w.apt.Register(w.run)
		return w.env(testkit.Seed(t, sambaSeed))
	})
}
