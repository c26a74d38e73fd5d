package fake

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// ControlCommand is the testscript command that sets up and inspects the
// fake host: nvidia-fake init|boot|set|serve|runfile|state.
const ControlCommand = "nvidia-fake"

// FromEnv returns the Fake named by $FAKE_STATE (state directory) and
// $FAKE_ROOT (the root it mirrors into).
func FromEnv() (*Fake, error) {
	dir := os.Getenv("FAKE_STATE")
	if dir == "" {
		return nil, fmt.Errorf("fake nvidia: $FAKE_STATE is not set")
	}
	return New(dir+"/nvidia", os.Getenv("FAKE_ROOT")), nil
}

// Main runs the fake tool name with os.Args[1:] as a PATH command and
// returns its exit code.
func Main(name string) int {
	f, err := FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 70
	}
	if name == ControlCommand {
		return f.control(os.Args[1:], os.Stdout, os.Stderr)
	}
	res := f.Run(name, os.Args[1:])
	io.WriteString(os.Stdout, res.Stdout)
	io.WriteString(os.Stderr, res.Stderr)
	return res.Code
}

// control is nvidia-fake:
//
//	nvidia-fake init [-kernel K] [-gpus N] [-deb VERSION] [-no-nouveau]
//	nvidia-fake boot
//	nvidia-fake set KNOB=VALUE...   (secure_boot, load_needs_reboot, broken, in_use, uvm_major, kernel)
//	nvidia-fake serve URL VERSION   (curl can download a fake runfile of VERSION from URL)
//	nvidia-fake runfile VERSION FILE (write a fake runfile, e.g. into a seed bundle)
//	nvidia-fake state               (print state.json)
func (f *Fake) control(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: nvidia-fake init|boot|set|serve|runfile|state")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "nvidia-fake:", err)
		return 1
	}
	switch args[0] {
	case "init":
		fs := flag.NewFlagSet("init", flag.ContinueOnError)
		fs.SetOutput(stderr)
		kernel := fs.String("kernel", "6.8.12-4-pve", "running kernel release")
		gpus := fs.Int("gpus", 1, "NVIDIA GPUs")
		deb := fs.String("deb", "535.247.01-1~deb12u1", "version of the Debian driver packages in the archive")
		noNouveau := fs.Bool("no-nouveau", false, "nouveau not loaded")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		s := NewState(*kernel, *gpus, *deb)
		if *noNouveau {
			delete(s.Loaded, "nouveau")
		}
		if err := f.Save(s); err != nil {
			return fail(err)
		}
	case "boot":
		if err := f.Boot(); err != nil {
			return fail(err)
		}
	case "set":
		err := f.Update(func(s *State) {
			for _, kv := range args[1:] {
				k, v, _ := strings.Cut(kv, "=")
				on := v == "true" || v == "1"
				switch k {
				case "secure_boot":
					s.SecureBoot = on
				case "load_needs_reboot":
					s.LoadNeedsReboot = on
				case "broken":
					s.Broken = on
				case "in_use":
					s.InUse = on
				case "kernel":
					s.Kernel = v
				case "uvm_major":
					fmt.Sscan(v, &s.UVMMajor)
				default:
					fmt.Fprintln(stderr, "nvidia-fake: unknown knob", k)
				}
			}
		})
		if err != nil {
			return fail(err)
		}
	case "serve":
		if len(args) != 3 {
			return fail(fmt.Errorf("usage: serve URL VERSION"))
		}
		err := f.Update(func(s *State) {
			if s.Downloads == nil {
				s.Downloads = map[string]string{}
			}
			s.Downloads[args[1]] = args[2]
		})
		if err != nil {
			return fail(err)
		}
	case "runfile":
		if len(args) != 3 {
			return fail(fmt.Errorf("usage: runfile VERSION FILE"))
		}
		if err := os.WriteFile(args[2], Runfile(args[1]), 0o644); err != nil {
			return fail(err)
		}
	case "state":
		io.WriteString(stdout, f.Effects()+"\n")
	default:
		fmt.Fprintln(stderr, "nvidia-fake: unknown verb", args[0])
		return 2
	}
	return 0
}
