package main

import (
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The security review's findings (H1-H4, M1-M7, L1-L6; the review itself is
// not part of the repository) each have a script in testdata/security that replays the
// attack against the phoenix binary. One test per finding, named after it.
func runSecurityScript(t *testing.T, name string) {
	t.Helper()
	testscript.Run(t, testscript.Params{
		Files:               []string{"testdata/security/" + name + ".txtar"},
		RequireExplicitExec: true,
		Setup:               scriptSetup,
	})
}

// TestH3RootSymlinksStayInside: an image whose etc and var are symlinks
// out of it (absolute and relative); run, install, uninstall, clean,
// status and plan never touch the outside directory.
func TestH3RootSymlinksStayInside(t *testing.T) { runSecurityScript(t, "h3_root_symlinks") }

// TestH2SignedBundle: a signed seed copied onto a stick with another
// runfile and password file is refused, the log naming the file; an older
// signed seed is refused once a newer one was accepted (replay).
func TestH2SignedBundle(t *testing.T) { runSecurityScript(t, "h2_signed_bundle") }

// TestM2CleanKeepsTrust: after the first completion, `clean --all` and
// `uninstall --purge` leave unsigned sticks refused.
func TestM2CleanKeepsTrust(t *testing.T) { runSecurityScript(t, "m2_clean_keeps_trust") }

// TestM5LockBeforeBundle: a run waiting for the lock has not touched the
// bundle of the run in progress; the reseed unit's run waits until it runs.
func TestM5LockBeforeBundle(t *testing.T) { runSecurityScript(t, "m5_lock_before_bundle") }

// TestM6ReseedHalfWritten: the reseed unit's run does nothing for a deleted
// seed or one that does not match its digest file.
func TestM6ReseedHalfWritten(t *testing.T) { runSecurityScript(t, "m6_reseed_half_written") }

// TestM3HookTrust: the first-boot hook does not install a stick's seed as
// the trusted local seed, bypassing its signature.
func TestM3HookTrust(t *testing.T) { runSecurityScript(t, "m3_hook_trust") }

// TestM7SecretsAtRest: seed images are 0600 whatever the umask, and the
// bundle's plaintext Samba password files are gone once the seed completed.
func TestM7SecretsAtRest(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	runSecurityScript(t, "m7_secrets_at_rest")
}

// TestL1StateDirRootOnly: the state tree is 0700 (docs/operator.md).
func TestL1StateDirRootOnly(t *testing.T) { runSecurityScript(t, "l1_state_dir") }
