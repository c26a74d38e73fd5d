package lxc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Command names, overridable for tests.
var (
	PctCmd        = "pct"
	PveamCmd      = "pveam"
	PvesmCmd      = "pvesm"
	PveversionCmd = "pveversion"
	ZFSCmd        = "zfs"
	DpkgQueryCmd  = "dpkg-query"
)

// ConfDir is where Proxmox keeps container configs (pmxcfs).
const ConfDir = "/etc/pve/lxc"

// pct runs the Proxmox container tool.
type pct struct{ run host.Runner }

func (p pct) do(ctx context.Context, args ...string) (string, error) {
	out, err := p.run.Run(ctx, host.Cmd{Name: PctCmd, Args: args})
	return string(out.Stdout), err
}

// ctConfig is the output of `pct config`: keys and raw lxc.* lines.
type ctConfig struct {
	Keys map[string]string
	Raw  []string
}

// missing reports whether err is pct's "Configuration file ... does not
// exist": every PVE error exits 255, so the message is what tells.
func missing(err error) bool {
	return host.ExitCode(err) == 255 && strings.Contains(errStderr(err), "does not exist")
}

func errStderr(err error) string {
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return err.Error()
}

// config reads a container's config; nil when it does not exist.
func (p pct) config(ctx context.Context, id int) (*ctConfig, error) {
	out, err := p.do(ctx, "config", strconv.Itoa(id))
	if missing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &ctConfig{Keys: map[string]string{}}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "lxc.") {
			c.Raw = append(c.Raw, k+": "+v)
			continue
		}
		if k == "description" {
			if d, err := url.PathUnescape(v); err == nil {
				v = d
			}
		}
		c.Keys[k] = v
	}
	return c, nil
}

// status returns "running" or "stopped".
func (p pct) status(ctx context.Context, id int) (string, error) {
	out, err := p.do(ctx, "status", strconv.Itoa(id))
	if err != nil {
		return "", err
	}
	s, _ := strings.CutPrefix(strings.TrimSpace(out), "status: ")
	return s, nil
}

// snapshots lists a container's snapshot names from `pct listsnapshot`.
func (p pct) snapshots(ctx context.Context, id int) ([]string, error) {
	out, err := p.do(ctx, "listsnapshot", strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "`->")))
		if len(f) > 0 && f[0] != "current" {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// exec runs argv inside the container.
func (p pct) exec(ctx context.Context, id int, stdin []byte, argv ...string) (string, error) {
	args := append([]string{"exec", strconv.Itoa(id), "--"}, argv...)
	out, err := p.run.Run(ctx, host.Cmd{Name: PctCmd, Args: args, Stdin: stdin})
	return string(out.Stdout), err
}

// inCT is a Runner whose commands run inside a container through pct exec,
// so shared helpers (the apt client) work there unchanged.
type inCT struct {
	run host.Runner
	id  int
}

func (r inCT) Run(ctx context.Context, c host.Cmd) (host.Output, error) {
	args := []string{"exec", strconv.Itoa(r.id), "--"}
	if len(c.Env) > 0 {
		args = append(append(args, "env"), c.Env...)
	}
	args = append(append(args, c.Name), c.Args...)
	return r.run.Run(ctx, host.Cmd{Name: PctCmd, Args: args, Stdin: c.Stdin, Timeout: c.Timeout})
}

var rePVE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`pve-manager/(\d+)\.(\d+)`) })

// pveVersion returns pve-manager's major and minor version, from pveversion
// or, failing that, from dpkg.
func pveVersion(ctx context.Context, r host.Runner) (int, int, error) {
	out, err := r.Run(ctx, host.Cmd{Name: PveversionCmd})
	s := string(out.Stdout)
	if err != nil {
		out, err2 := r.Run(ctx, host.Cmd{Name: DpkgQueryCmd, Args: []string{"-W", "-f=${Version}", "pve-manager"}})
		if err2 != nil {
			return 0, 0, fmt.Errorf("pve-manager version: %w", err)
		}
		s = "pve-manager/" + string(out.Stdout)
	}
	m := rePVE().FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("pve-manager version: cannot parse %q", strings.TrimSpace(s))
	}
	maj, _ := strconv.Atoi(m[1])
	mnr, _ := strconv.Atoi(m[2])
	return maj, mnr, nil
}
