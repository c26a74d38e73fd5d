package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// exec runs `pct exec <vmid> -- argv...` against the container's tracked
// state; the contract check has split vmid from the free arguments.
func (p *PVE) exec(vmid string, argv []string, stdin []byte, out *strings.Builder) error {
	id, err := strconv.Atoi(vmid)
	if err != nil {
		return paramErr("exec", "vmid", "invalid format - value does not look like a valid VM ID")
	}
	if len(argv) == 0 {
		return errf("missing command")
	}
	return p.withLock(func() error {
		c, rt, err := p.load(id)
		if err != nil {
			return err
		}
		if rt.Status != "running" {
			return errf("CT %d not running", id)
		}
		rt.History = append(rt.History, strings.Join(argv, " "))
		runErr := p.inside(c, rt, argv, stdin, out)
		if err := p.save(id, c, rt); err != nil {
			return err
		}
		return runErr
	}, id)
}

func exitCode(code int, stderr string) error { return &exitErr{code: code, stderr: stderr} }

func (p *PVE) inside(c *conf, rt *runtime, argv []string, stdin []byte, out *strings.Builder) error {
	for len(argv) > 0 && argv[0] == "env" {
		argv = argv[1:]
		for len(argv) > 0 && strings.Contains(argv[0], "=") {
			argv = argv[1:]
		}
	}
	if len(argv) == 0 {
		return nil
	}
	cmd, ok := insideCmds[filepath.Base(argv[0])]
	if !ok {
		return nil
	}
	return cmd(call{p: p, c: c, rt: rt, argv: argv, stdin: stdin, out: out})
}

// call is one command run in a container: the fake, the container's
// config and runtime state, the command line, its stdin and its stdout.
type call struct {
	p     *PVE
	c     *conf
	rt    *runtime
	argv  []string
	stdin []byte
	out   *strings.Builder
}

// insideCmds are the commands the fake runs inside a container; any other
// succeeds and does nothing.
var insideCmds = map[string]func(call) error{
	"true":       func(call) error { return nil },
	"false":      func(call) error { return exitCode(1, "") },
	"test":       inTest,
	"ip":         inIP,
	"dpkg-query": inDpkgQuery,
	"apt-get":    inAptGet,
	"curl":       inCurl,
	"sha256sum":  inSha256sum,
	"sh":         inSh,
	"bash":       inSh,
}

func inTest(x call) error {
	if len(x.argv) != 3 || (x.argv[1] != "-e" && x.argv[1] != "-f" && x.argv[1] != "-c") {
		return exitCode(2, "test: unsupported expression\n")
	}
	f := x.argv[2]
	if strings.HasPrefix(f, "/dev/") {
		x.rt.DevTests++
		if x.rt.DevTests <= x.p.DevDelay {
			return exitCode(1, "")
		}
		for _, d := range x.rt.Devices {
			if d == f {
				return nil
			}
		}
		return exitCode(1, "")
	}
	if _, ok := x.rt.Inside.Files[f]; ok {
		return nil
	}
	return exitCode(1, "")
}

func inIP(x call) error {
	if strings.Join(x.argv[1:], " ") != "-4 route show default" {
		return nil
	}
	x.rt.NetTests++
	if x.rt.NetTests <= x.p.NetDelay {
		return nil
	}
	net0, ok := x.c.Main.Keys["net0"]
	if !ok {
		return nil
	}
	m, _ := props(net0, "")
	switch {
	case m["gw"] != "":
		fmt.Fprintf(x.out, "default via %s dev %s proto static\n", m["gw"], m["name"])
	case m["ip"] == "dhcp":
		fmt.Fprintf(x.out, "default via 10.0.0.1 dev %s proto dhcp src 10.0.0.99 metric 1024\n", m["name"])
	}
	return nil
}

func inDpkgQuery(x call) error {
	var unknown []string
	for _, a := range x.argv[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.SplitN(strings.SplitN(a, "=", 2)[0], ":", 2)[0]
		if slices.Contains(x.rt.Inside.Packages, name) {
			fmt.Fprintf(x.out, "%s ii \n", name)
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		var b strings.Builder
		for _, u := range unknown {
			fmt.Fprintf(&b, "dpkg-query: no packages found matching %s\n", u)
		}
		return exitCode(1, b.String())
	}
	return nil
}

func inAptGet(x call) error {
	verb := ""
	for _, a := range x.argv[1:] {
		switch {
		case verb == "" && (a == "install" || a == "purge" || a == "remove" || a == "update" || a == "dist-upgrade" || a == "upgrade"):
			verb = a
		case verb == "install" && !strings.HasPrefix(a, "-"):
			name := strings.SplitN(a, "=", 2)[0]
			if !slices.Contains(x.rt.Inside.Packages, name) {
				x.rt.Inside.Packages = append(x.rt.Inside.Packages, name)
				sort.Strings(x.rt.Inside.Packages)
			}
		case (verb == "purge" || verb == "remove") && !strings.HasPrefix(a, "-"):
			x.rt.Inside.Packages = remove(x.rt.Inside.Packages, a)
		}
	}
	return nil
}

func inCurl(x call) error {
	// curl -fsSL -o DST URL: the file appears with the URL as content.
	for i := 1; i+1 < len(x.argv); i++ {
		if x.argv[i] == "-o" {
			if x.rt.Inside.Files == nil {
				x.rt.Inside.Files = map[string]string{}
			}
			x.rt.Inside.Files[x.argv[i+1]] = "downloaded " + x.argv[len(x.argv)-1] + "\n"
			return nil
		}
	}
	return nil
}

func inSha256sum(x call) error {
	// sha256sum -c reads "SUM  FILE" lines from stdin.
	if len(x.argv) != 2 || x.argv[1] != "-c" {
		return nil
	}
	for _, l := range strings.Split(strings.TrimSpace(string(x.stdin)), "\n") {
		sum, file, _ := strings.Cut(l, "  ")
		content, ok := x.rt.Inside.Files[file]
		h := sha256.Sum256([]byte(content))
		if !ok || hex.EncodeToString(h[:]) != sum {
			fmt.Fprintf(x.out, "%s: FAILED\n", file)
			return exitCode(1, "sha256sum: WARNING: 1 computed checksum did NOT match\n")
		}
		fmt.Fprintf(x.out, "%s: OK\n", file)
	}
	return nil
}

func inSh(x call) error {
	if len(x.argv) > 1 && x.argv[1] == "-c" {
		return nil
	}
	if len(x.argv) < 2 {
		return nil
	}
	content, ok := x.rt.Inside.Files[x.argv[1]]
	if !ok {
		return exitCode(127, fmt.Sprintf("%s: 0: cannot open %s: No such file\n", x.argv[0], x.argv[1]))
	}
	for _, l := range strings.Split(content, "\n") {
		if v, ok := strings.CutPrefix(l, "#fake-exit: "); ok {
			if n, _ := strconv.Atoi(strings.TrimSpace(v)); n != 0 {
				return exitCode(n, "script failed\n")
			}
		}
	}
	return nil
}

func remove(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// History returns the commands run inside a container, oldest first.
func (p *PVE) History(id int) []string {
	var h []string
	_ = p.withLock(func() error {
		_, rt, err := p.load(id)
		if err == nil {
			h = rt.History
		}
		return nil
	}, id)
	return h
}

// Status returns "running", "stopped" or "" for a missing container.
func (p *PVE) Status(id int) string {
	s := ""
	_ = p.withLock(func() error {
		if _, rt, err := p.load(id); err == nil {
			s = rt.Status
		}
		return nil
	}, id)
	return s
}

// Packages lists the packages installed inside a container.
func (p *PVE) Packages(id int) []string {
	var pk []string
	_ = p.withLock(func() error {
		if _, rt, err := p.load(id); err == nil {
			pk = rt.Inside.Packages
		}
		return nil
	}, id)
	return pk
}

// Boot simulates a host reboot: every container stops, those with onboot
// set start again.
func (p *PVE) Boot() {
	_ = p.withLock(func() error {
		for _, id := range p.ids() {
			c, rt, err := p.load(id)
			if err != nil {
				continue
			}
			rt.Status, rt.Devices = "stopped", nil
			if c.Main.Keys["onboot"] == "1" {
				p.boot(c, rt)
			}
			_ = p.save(id, c, rt)
		}
		return nil
	})
}

// Effects is a canonical dump of the containers: config, status, what is
// installed inside and the snapshots. The command history is left out:
// reruns may poll more.
func (p *PVE) Effects() string {
	var b strings.Builder
	_ = p.withLock(func() error {
		for _, id := range p.ids() {
			c, rt, err := p.load(id)
			if err != nil {
				fmt.Fprintf(&b, "ct %d: %v\n", id, err)
				continue
			}
			fmt.Fprintf(&b, "ct %d status=%s\n%s", id, rt.Status, c.String())
			fmt.Fprintf(&b, "packages: %s\n", strings.Join(rt.Inside.Packages, " "))
			var files []string
			for f := range rt.Inside.Files {
				files = append(files, f)
			}
			sort.Strings(files)
			fmt.Fprintf(&b, "files: %s\n\n", strings.Join(files, " "))
		}
		return nil
	})
	return b.String()
}

// FromEnv builds a PVE from the environment of a PATH command: FAKE_STATE
// (the fakes' shared state dir, required; this one keeps FAKE_STATE/pve),
// FAKE_ROOT (host root, default FAKE_STATE/pve),
// FAKE_PVE_VERSION, FAKE_PCT_CREATE_DELAY (a Go duration), FAKE_MAJORS
// ("nvidia-frontend=195,nvidia-uvm=508").
func FromEnv() (*PVE, error) {
	dir := os.Getenv("FAKE_STATE")
	if dir == "" {
		return nil, fmt.Errorf("FAKE_STATE is not set")
	}
	dir = filepath.Join(dir, "pve")
	p := &PVE{Dir: dir, Root: orDefault(os.Getenv("FAKE_ROOT"), dir), Version: os.Getenv("FAKE_PVE_VERSION"), stateDir: os.Getenv("FAKE_STATE")}
	if d := os.Getenv("FAKE_PCT_CREATE_DELAY"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("FAKE_PCT_CREATE_DELAY: %w", err)
		}
		p.CreateDelay = v
	}
	if m := os.Getenv("FAKE_MAJORS"); m != "" {
		p.Majors = map[string]int{}
		for _, kv := range strings.Split(m, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("FAKE_MAJORS: %q: %w", kv, err)
			}
			p.Majors[k] = n
		}
	}
	return p, nil
}

// Main runs one tool ("pct", "pveam", "pvesm", "pveversion") as a PATH
// command with os.Args and the FAKE_* environment; it returns the exit code.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	p, err := FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "%s (fake): %v\n", name, err)
		return 255
	}
	tools := map[string]tool{"pct": p.Pct, "pveam": p.Pveam, "pvesm": p.Pvesm, "pveversion": p.Pveversion}
	t, ok := tools[name]
	if !ok {
		fmt.Fprintf(stderr, "fake: unknown tool %s\n", name)
		return 127
	}
	var in []byte
	if name == "pct" && len(args) > 0 && args[0] == "exec" && stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	var out strings.Builder
	res := result("", t(context.Background(), args, in, &out))
	io.WriteString(stdout, out.String())
	io.WriteString(stderr, res.Stderr)
	return res.Code
}
