package apt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules/internal/apt/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
)

func newFake(status map[string]string) (*fakehost.Runner, *fake.DB) {
	db := fake.New()
	db.Status = status
	r := fakehost.New()
	db.Register(r)
	return r, db
}

func noSleep(slept *[]time.Duration) func(context.Context, time.Duration) error {
	return func(_ context.Context, d time.Duration) error {
		*slept = append(*slept, d)
		return nil
	}
}

func TestInstallOnlyMissingInOneCall(t *testing.T) {
	r, db := newFake(map[string]string{"jq": "ii ", "chrony": "hi ", "samba": "iU "})
	c := New(r)
	got, err := c.Install(context.Background(), "jq", "chrony", "samba", "s-tui", "jq")
	if err != nil {
		t.Fatal(err)
	}
	// held (hi) counts as installed; half-installed (iU) does not.
	if want := []string{"samba", "s-tui"}; !slices.Equal(got, want) {
		t.Errorf("installed %v, want %v", got, want)
	}
	if db.Status["s-tui"] != "ii " {
		t.Error("s-tui not installed")
	}
	// A rerun installs nothing and runs only dpkg-query.
	got, err = c.Install(context.Background(), "jq", "chrony", "samba", "s-tui")
	if err != nil || len(got) != 0 {
		t.Fatalf("rerun installed %v, %v", got, err)
	}
	testkit.Golden(t, "install", r.Log())
}

func TestEveryAptCallIsNoninteractive(t *testing.T) {
	r, _ := newFake(map[string]string{"foo": "ii "})
	c := New(r)
	c.ForceIPv4 = true
	c.Proxy = "http://proxy.lan:3128"
	ctx := context.Background()
	if err := c.Update(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.DistUpgrade(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Install(ctx, "bar"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Purge(ctx, "foo", "bar", "nothere"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cmd := range r.Calls() {
		if !slices.Contains(cmd.Env, "DEBIAN_FRONTEND=noninteractive") {
			t.Errorf("%s: no DEBIAN_FRONTEND=noninteractive", cmd)
		}
		if cmd.Name != "apt-get" {
			continue
		}
		n++
		for _, want := range []string{"-y", "Dpkg::Options::=--force-confdef", "Dpkg::Options::=--force-confold", "DPkg::Lock::Timeout=300", "Acquire::ForceIPv4=true", "Acquire::http::Proxy=http://proxy.lan:3128"} {
			if !slices.Contains(cmd.Args, want) {
				t.Errorf("%s: missing %s", cmd, want)
			}
		}
		if cmd.Timeout == 0 {
			t.Errorf("%s: no timeout", cmd)
		}
	}
	if n != 4 {
		t.Errorf("%d apt-get calls, want 4", n)
	}
	testkit.Golden(t, "options", r.Log())
}

func TestRetryWithBackoff(t *testing.T) {
	r := fakehost.New()
	r.Script("apt-get",
		fakehost.Fail(100, "E: Failed to fetch http://deb.debian.org/... Temporary failure resolving"),
		fakehost.Fail(100, "E: Failed to fetch http://deb.debian.org/... Temporary failure resolving"),
		fakehost.OK(""))
	var slept []time.Duration
	c := New(r)
	c.Sleep = noSleep(&slept)
	if err := c.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{5 * time.Second, 10 * time.Second}; !slices.Equal(slept, want) {
		t.Errorf("slept %v, want %v", slept, want)
	}
	// Past the retries the last error is returned with the attempt count.
	r.Script("apt-get", fakehost.Fail(100, "E: Failed to fetch x"))
	slept = nil
	err := c.Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "after 4 attempts") || !strings.Contains(err.Error(), "Failed to fetch") {
		t.Errorf("err = %v", err)
	}
	if len(slept) != 3 {
		t.Errorf("slept %v, want 3 backoffs", slept)
	}
}

func TestHeldLockIsAClearErrorNotARetryLoop(t *testing.T) {
	r, db := newFake(map[string]string{})
	db.Locked = true
	var slept []time.Duration
	c := New(r)
	c.Sleep = noSleep(&slept)
	c.LockTimeout = 90 * time.Second
	_, err := c.Install(context.Background(), "jq")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	for _, want := range []string{"apt: install jq", "waited 1m30s", "held by process 4242"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(slept) != 0 {
		t.Errorf("retried a held lock: slept %v", slept)
	}
	testkit.Golden(t, "locked", r.Log())
}

func TestInterruptedDpkgIsRepairedOnce(t *testing.T) {
	r, _ := newFake(map[string]string{})
	r.Script("apt-get",
		fakehost.Fail(100, "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem."),
		fakehost.OK(""))
	r.Script("dpkg", fakehost.OK(""))
	c := New(r)
	c.Sleep = noSleep(new([]time.Duration))
	if _, err := c.Install(context.Background(), "jq"); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "repair", r.Log())

	// A repair that fails is reported, not looped.
	r.Script("apt-get", fakehost.Fail(100, "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem."))
	r.Script("dpkg", fakehost.Fail(1, "dpkg: error processing package foo (--configure)"))
	_, err := c.Install(context.Background(), "jq")
	if err == nil || !strings.Contains(err.Error(), "repair interrupted dpkg") {
		t.Errorf("err = %v", err)
	}
}

func TestBadPackageNamesRejected(t *testing.T) {
	r, _ := newFake(map[string]string{})
	for _, p := range []string{"-oAPT::Get::AllowUnauthenticated=1", "", "two words"} {
		if _, err := New(r).Install(context.Background(), p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	if len(r.Calls()) != 0 {
		t.Errorf("ran %s", r.Log())
	}
}

func TestMissingQueryFailure(t *testing.T) {
	r := fakehost.New()
	r.Script("dpkg-query", fakehost.Fail(2, "dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 7"))
	_, err := New(r).Install(context.Background(), "jq")
	if err == nil || !strings.Contains(err.Error(), "apt: query installed packages") || !strings.Contains(err.Error(), "parsing file") {
		t.Errorf("err = %v", err)
	}
}

// fakeAptGet writes a shell script standing in for apt-get on PATH, run by
// the real ExecRunner: it behaves like apt would when the caller forgets
// the non-interactive settings (waits for an answer) and like a held lock
// (waits DPkg::Lock::Timeout seconds, then exits 100).
const fakeAptGet = `#!/bin/sh
lock=
yes=
for a in "$@"; do
  case "$a" in
    DPkg::Lock::Timeout=*) lock=${a#DPkg::Lock::Timeout=} ;;
    -y) yes=1 ;;
  esac
done
if [ "$DEBIAN_FRONTEND" != noninteractive ] || [ -z "$yes" ]; then
  echo "Do you want to continue? [Y/n]"
  # a real prompt on a terminal waits for ever
  sleep 3600
fi
# no answer can come from stdin: it must be empty, not a terminal
if read -r answer; then echo "stdin gave an answer: $answer" >&2; exit 3; fi
if [ -e "$FAKE_LOCK" ]; then
  sleep "$lock"
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
  exit 100
fi
exit 0
`

func TestRealProcessNeverHangs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(fakeAptGet), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	lock := filepath.Join(dir, "lock")
	t.Setenv("FAKE_LOCK", lock)
	run := host.NewExecRunner()
	run.Env = nil // prove the helper sets the environment itself
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := New(run)
	c.LockTimeout = time.Second
	if err := c.Update(ctx); err != nil {
		t.Fatalf("no lock: %v", err)
	}
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := c.Update(ctx)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("held lock: err = %v, want ErrLocked", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("hung until the test deadline (%s)", time.Since(start))
	}
}

func TestProxyWithCredentialsNeverReachesArgv(t *testing.T) {
	r, _ := newFake(map[string]string{})
	c := New(r)
	c.Proxy = "http://bob:s3cret@proxy.lan:3128"
	err := c.Update(context.Background())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(r.Log(), "s3cret") || len(r.Calls()) != 0 {
		t.Errorf("ran: %s", r.Log())
	}
}

// The fake refuses what would prompt; the helper never triggers that.
func TestFakeRefusesPromptingCalls(t *testing.T) {
	r, _ := newFake(map[string]string{})
	_, err := r.Run(context.Background(), host.Cmd{Name: "apt-get", Args: []string{"install", "jq"}})
	if err == nil || !strings.Contains(err.Error(), "would prompt") {
		t.Fatalf("fake accepted a prompting call: %v", err)
	}
	if _, err := New(r).Install(context.Background(), "jq"); err != nil {
		t.Errorf("helper: %v", err)
	}
}
