package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/all"
	"github.com/phoenix-pve/phoenix/seed"
)

// The engine scripts (testdata/script/engine_*.txtar) drive `phoenix run
// --root $WORK/root` across simulated boots. Two things stand in for what
// cannot run here:
//   - systemctl: a fake on PATH that records its calls in $WORK/systemctl.log
//     and, for "reboot", simulates the reboot by writing a new boot id into
//     the root's /proc/sys/kernel/random/boot_id (which the engine reads).
//   - PHOENIX_TEST_MODULES: only in this test binary, replaces the module
//     list with small test modules named after seed sections, so the engine
//     is tested before (and independently of) the real modules.
func init() {
	testCommands["systemctl"] = fakeSystemctl
	testCommands["failing-tool"] = failingTool
	testCommands["slow-tool"] = slowTool
	testCommands["busy-tool"] = busyTool
	testCommands["islink"] = isLink
	engineModules = func() []modules.Module {
		if spec := os.Getenv("PHOENIX_TEST_MODULES"); spec != "" {
			return testModules(spec)
		}
		return all.Default()
	}
	scriptSetups = append(scriptSetups, func(e *testscript.Env) error {
		e.Setenv("FAKE_ROOT", filepath.Join(e.WorkDir, "root"))
		e.Setenv(offlineExecEnv, "host")
		return nil
	})
}

func fakeSystemctl() {
	work := filepath.Dir(os.Getenv("FAKE_ROOT"))
	args := os.Args[1:]
	appendFile(filepath.Join(work, "systemctl.log"), "systemctl "+strings.Join(args, " ")+"\n")
	if len(args) == 1 && args[0] == "reboot" {
		appendFile(filepath.Join(work, "reboots"), "reboot\n")
		n := strings.Count(readFile(filepath.Join(work, "reboots")), "\n")
		p := filepath.Join(os.Getenv("FAKE_ROOT"), "proc/sys/kernel/random/boot_id")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("boot-after-reboot-%d\n", n)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(args) > 0 && (args[0] == "daemon-reload" || args[0] == "enable") {
		// The nvidia module enables the units it writes (device nodes,
		// persistenced); the log above records it.
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "systemctl (fake): unsupported: %s\n", strings.Join(args, " "))
	os.Exit(1)
}

// failingTool prints its stdin to stderr (as careless tools do) and exits 3.
func failingTool() {
	in, _ := io.ReadAll(os.Stdin)
	fmt.Fprintf(os.Stderr, "failing-tool: cannot apply %q\n", strings.TrimSpace(string(in)))
	os.Exit(3)
}

// slowTool DURATION [ARGS...]: sleeps for DURATION (a Go duration), so
// the timing report has something to measure.
func slowTool() {
	d, err := time.ParseDuration(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	time.Sleep(d)
}

// busyTool D: spend D of CPU time, then exit.
func busyTool() {
	d, err := time.ParseDuration(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	spin(d)
}

// spin keeps a CPU busy until this process has used d more CPU time
// (getrusage(2), RUSAGE_SELF), however long that takes on a loaded machine.
func spin(d time.Duration) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			panic(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for end := cpu() + d; cpu() < end; {
		for i := 0; i < 1e5; i++ {
			_ = i * i
		}
	}
}

// isLink PATH: exit 0 when PATH is a symlink (testscript's exists follows
// links, and the wants link points into the offline root).
func isLink() {
	fi, err := os.Lstat(os.Args[1])
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		fmt.Fprintf(os.Stderr, "%s: not a symlink\n", os.Args[1])
		os.Exit(1)
	}
}

func appendFile(p, s string) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		f.WriteString(s)
		f.Close()
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// testModules builds modules from "name[:behaviour],...": plain (write
// /etc/phoenix-test/NAME once), reboot (one reboot, then finish), fail
// (run failing-tool with the section's secrets on stdin unless
// /etc/phoenix-test/NAME.fixed exists), loop (ask for a reboot every time),
// slow (run slow-tool for 300, 10 and 100 ms, the section's secrets on
// stdin, then finish), busy (spend 200 ms of CPU itself, then run
// busy-tool for 200 ms of CPU). A third field "beside" makes the module
// an early one (modules.Early) that runs at the same time as all the
// modules before it (modules.Concurrent): "host:slow:beside".
func testModules(spec string) []modules.Module {
	var out []modules.Module
	var names []string
	for _, s := range strings.Split(spec, ",") {
		f := strings.SplitN(s, ":", 3)
		m := &scriptModule{name: f[0]}
		if len(f) > 1 {
			m.how = f[1]
		}
		if len(f) > 2 && f[2] == "beside" {
			out = append(out, &besideModule{scriptModule: m, along: slices.Clone(names)})
		} else {
			out = append(out, m)
		}
		names = append(names, m.name)
	}
	return out
}

// besideModule runs in the early stage, at the same time as the modules
// before it.
type besideModule struct {
	*scriptModule
	along []string
}

func (*besideModule) Early(context.Context, *modules.Env) (bool, string) { return true, "" }
func (m *besideModule) Alongside(context.Context, *modules.Env) []string { return m.along }

type scriptModule struct{ name, how string }

func (m *scriptModule) Name() string             { return m.name }
func (m *scriptModule) Active(s *seed.Seed) bool { return seed.SectionDigest(s, m.name) != "" }

func (m *scriptModule) file() string { return "/etc/phoenix-test/" + m.name }

func (m *scriptModule) Check(_ context.Context, e *modules.Env) ([]string, error) {
	if b, _ := e.Root.ReadFile(m.file()); string(b) != seed.SectionDigest(e.Seed, m.name)+"\n" {
		return []string{"write " + m.file()}, nil
	}
	return nil, nil
}

func (m *scriptModule) Apply(ctx context.Context, e *modules.Env) (modules.Result, error) {
	e.Say("applying " + m.how)
	switch m.how {
	case "fail":
		if !host.Exists(e.Root, m.file()+".fixed") {
			var secret string
			for _, u := range e.Seed.Users {
				secret += u.Name + ":" + u.PasswordHash + "\n"
			}
			_, err := e.Runner.Run(ctx, host.Cmd{Name: "failing-tool", Args: []string{"--apply", m.name}, Stdin: []byte(secret), Timeout: time.Minute})
			return modules.Result{}, err
		}
	case "loop":
		return modules.Result{Reboot: true, Reason: "never converges"}, nil
	case "busy":
		spin(200 * time.Millisecond)
		if _, err := e.Runner.Run(ctx, host.Cmd{Name: "busy-tool", Args: []string{"200ms"}, Timeout: time.Minute}); err != nil {
			return modules.Result{}, err
		}
	case "slow":
		var secret string
		for _, u := range e.Seed.Users {
			secret += u.Name + ":" + u.PasswordHash + "\n"
		}
		for _, d := range []string{"300ms", "10ms", "100ms"} {
			if _, err := e.Runner.Run(ctx, host.Cmd{Name: "slow-tool", Args: []string{d, "--for", m.name}, Stdin: []byte(secret), Timeout: time.Minute}); err != nil {
				return modules.Result{}, err
			}
		}
	case "reboot":
		var boot string
		if _, err := e.Store.Get(m.name+"/boot", &boot); err != nil {
			return modules.Result{}, err
		}
		if boot == "" || boot == e.BootID {
			if err := e.Store.Put(m.name+"/boot", e.BootID); err != nil {
				return modules.Result{}, err
			}
			if _, err := host.WriteIfChanged(e.Root, m.file(), []byte(seed.SectionDigest(e.Seed, m.name)+"\n"), 0o644, host.Owner{}); err != nil {
				return modules.Result{}, err
			}
			return modules.Result{Reboot: true, Reason: "new " + m.name}, nil
		}
		if err := e.Store.Delete(m.name + "/boot"); err != nil {
			return modules.Result{}, err
		}
	}
	ch, err := host.WriteIfChanged(e.Root, m.file(), []byte(seed.SectionDigest(e.Seed, m.name)+"\n"), 0o644, host.Owner{})
	if err != nil || !ch {
		return modules.Result{}, err
	}
	return modules.Result{Changed: []string{m.file()}}, nil
}

func (m *scriptModule) Converge(ctx context.Context, s *modules.Steps) error {
	return s.Split(ctx, m.Check, m.Apply)
}
