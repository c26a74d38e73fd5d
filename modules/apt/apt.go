// Package apt is the one shared way Phoenix installs Debian packages. It is a
// helper, not a module: every module that needs packages calls it, none shells
// out to apt on its own. apt never prompts (noninteractive, confdef/confold),
// waits for the dpkg lock within a bound, and retries with backoff.
package apt

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Client runs apt-get and dpkg-query through a Runner.
type Client struct {
	Run host.Runner
	// LockTimeout bounds the wait for the dpkg lock (apt's
	// DPkg::Lock::Timeout). Default 5 minutes.
	LockTimeout time.Duration
	// Retries is how many times a failed apt-get is retried. Default 3.
	Retries int
	// Backoff is the first delay between retries; it doubles. Default 5s.
	Backoff time.Duration
	// Sleep waits between retries; tests replace it.
	Sleep func(context.Context, time.Duration) error
}

// New returns a Client with the defaults.
func New(r host.Runner) *Client { return &Client{Run: r} }

// Env is the environment of every apt call: nothing may prompt.
var Env = []string{
	"DEBIAN_FRONTEND=noninteractive",
	"APT_LISTCHANGES_FRONTEND=none",
	"NEEDRESTART_MODE=a",
}

func (c *Client) lockTimeout() time.Duration {
	if c.LockTimeout > 0 {
		return c.LockTimeout
	}
	return 5 * time.Minute
}

// baseArgs are the options every apt-get call carries.
func (c *Client) baseArgs() []string {
	return []string{
		"-y", "-q",
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(c.lockTimeout().Seconds())),
		"-o", "Dpkg::Options::=--force-confdef",
		"-o", "Dpkg::Options::=--force-confold",
	}
}

// Missing returns the packages of pkgs that are not installed.
func (c *Client) Missing(ctx context.Context, pkgs ...string) ([]string, error) {
	if len(pkgs) == 0 {
		return nil, nil
	}
	args := append([]string{"-W", "-f=${Package} ${db:Status-Abbrev}\n"}, pkgs...)
	out, err := c.Run.Run(ctx, host.Cmd{Name: "dpkg-query", Args: args, Env: Env})
	// dpkg-query exits 1 when some package is unknown; its stdout still
	// lists the known ones.
	if err != nil && host.ExitCode(err) != 1 {
		return nil, fmt.Errorf("apt: query installed packages: %w", err)
	}
	installed := map[string]bool{}
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[1], "ii") {
			installed[strings.SplitN(f[0], ":", 2)[0]] = true
		}
	}
	var missing []string
	for _, p := range pkgs {
		if !installed[strings.SplitN(p, "=", 2)[0]] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// Install installs the missing ones of pkgs in one apt-get call and returns
// what it installed.
func (c *Client) Install(ctx context.Context, pkgs ...string) ([]string, error) {
	missing, err := c.Missing(ctx, pkgs...)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	args := append(append(c.baseArgs(), "install"), missing...)
	if err := c.apt(ctx, args); err != nil {
		return nil, fmt.Errorf("apt: install %s: %w", strings.Join(missing, " "), err)
	}
	return missing, nil
}

// Purge removes the installed ones of pkgs.
func (c *Client) Purge(ctx context.Context, pkgs ...string) ([]string, error) {
	missing, err := c.Missing(ctx, pkgs...)
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	for _, m := range missing {
		gone[m] = true
	}
	var present []string
	for _, p := range pkgs {
		if !gone[p] {
			present = append(present, p)
		}
	}
	if len(present) == 0 {
		return nil, nil
	}
	args := append(append(c.baseArgs(), "purge"), present...)
	if err := c.apt(ctx, args); err != nil {
		return nil, fmt.Errorf("apt: purge %s: %w", strings.Join(present, " "), err)
	}
	return present, nil
}

// Update runs apt-get update.
func (c *Client) Update(ctx context.Context) error {
	if err := c.apt(ctx, append(c.baseArgs(), "update")); err != nil {
		return fmt.Errorf("apt: update: %w", err)
	}
	return nil
}

// DistUpgrade runs apt-get dist-upgrade.
func (c *Client) DistUpgrade(ctx context.Context) error {
	if err := c.apt(ctx, append(c.baseArgs(), "dist-upgrade")); err != nil {
		return fmt.Errorf("apt: dist-upgrade: %w", err)
	}
	return nil
}

// apt runs apt-get with retries and exponential backoff.
func (c *Client) apt(ctx context.Context, args []string) error {
	retries := c.Retries
	if retries == 0 {
		retries = 3
	}
	delay := c.Backoff
	if delay == 0 {
		delay = 5 * time.Second
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	var err error
	for attempt := 0; ; attempt++ {
		_, err = c.Run.Run(ctx, host.Cmd{Name: "apt-get", Args: args, Env: Env, Timeout: 2*time.Hour + c.lockTimeout()})
		if err == nil || attempt >= retries || ctx.Err() != nil {
			return err
		}
		if serr := sleep(ctx, delay); serr != nil {
			return err
		}
		delay *= 2
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
