package apt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// ErrLocked is returned (wrapped) when the dpkg lock was still held after
// LockTimeout: another apt or unattended-upgrades run is holding it.
var ErrLocked = errors.New("dpkg lock is held by another process")

// Client runs apt-get and dpkg-query through a Runner.
type Client struct {
	Run host.Runner
	// LockTimeout bounds the wait for the dpkg lock (apt's
	// DPkg::Lock::Timeout). Default 5 minutes.
	LockTimeout time.Duration
	// Retries is how many times a failed apt-get is retried. Default 3;
	// negative means no retry.
	Retries int
	// Backoff is the first delay between retries; it doubles. Default 5s.
	Backoff time.Duration
	// Sleep waits between retries; tests replace it.
	Sleep func(context.Context, time.Duration) error
	// Proxy, when set, is the HTTP proxy for this client's apt calls
	// (Acquire::http::Proxy and Acquire::https::Proxy). The repos module
	// writes the seed's proxy into apt.conf.d instead, so that every apt
	// call on the host uses it; this field is for callers without that.
	Proxy string
	// ForceIPv4 makes apt use IPv4 only (Acquire::ForceIPv4), the cure for
	// mirrors whose IPv6 route is broken.
	ForceIPv4 bool
	// Timeout bounds one apt-get run, lock wait excluded. Default 2 hours.
	Timeout time.Duration
}

// New returns a Client with the defaults.
func New(r host.Runner) *Client { return &Client{Run: r} }

// Env is the environment of every apt call: nothing may prompt, no
// debconf question, no ucf conffile question, no needrestart dialog.
var Env = []string{
	"DEBIAN_FRONTEND=noninteractive",
	"DEBCONF_NONINTERACTIVE_SEEN=true",
	"APT_LISTCHANGES_FRONTEND=none",
	"NEEDRESTART_MODE=a",
	"UCF_FORCE_CONFFOLD=1",
}

func (c *Client) lockTimeout() time.Duration {
	if c.LockTimeout > 0 {
		return c.LockTimeout
	}
	return 5 * time.Minute
}

// baseArgs are the options every apt-get call carries.
func (c *Client) baseArgs() []string {
	args := []string{
		"-y", "-q",
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(c.lockTimeout().Seconds())),
		"-o", "Dpkg::Options::=--force-confdef",
		"-o", "Dpkg::Options::=--force-confold",
	}
	if c.ForceIPv4 {
		args = append(args, "-o", "Acquire::ForceIPv4=true")
	}
	if c.Proxy != "" {
		// The proxy URL is checked by checkProxy to carry no credentials:
		// argv is logged.
		args = append(args, "-o", "Acquire::http::Proxy="+c.Proxy, "-o", "Acquire::https::Proxy="+c.Proxy)
	}
	return args
}

// installed reports whether a db:Status-Abbrev value means installed: the
// second letter is the current state, 'i' for installed ("ii", "hi" for a
// held package). Half-configured or unpacked packages are not installed.
func installed(abbrev string) bool {
	return len(abbrev) >= 2 && abbrev[1] == 'i'
}

// name is a package argument without version (=1.2) or release (/bookworm)
// qualifiers, the way dpkg-query names it.
func name(p string) string {
	if i := strings.IndexAny(p, "=/"); i >= 0 {
		p = p[:i]
	}
	return p
}

// Missing returns the packages of pkgs that are not installed, in order,
// without duplicates.
func (c *Client) Missing(ctx context.Context, pkgs ...string) ([]string, error) {
	pkgs = dedup(pkgs)
	if len(pkgs) == 0 {
		return nil, nil
	}
	for _, p := range pkgs {
		if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n") {
			return nil, fmt.Errorf("apt: bad package name %q", p)
		}
	}
	query := make([]string, len(pkgs))
	for i, p := range pkgs {
		query[i] = name(p)
	}
	args := append([]string{"-W", `-f=${Package}:${Architecture} ${db:Status-Abbrev}\n`, "--"}, query...)
	out, err := c.Run.Run(ctx, host.Cmd{Name: "dpkg-query", Args: args, Env: Env, Timeout: time.Minute})
	// dpkg-query exits 1 when some package is unknown; its stdout still
	// lists the known ones.
	if err != nil && host.ExitCode(err) != 1 {
		return nil, fmt.Errorf("apt: query installed packages: %w", err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && installed(f[1]) {
			pkg, arch, _ := strings.Cut(f[0], ":")
			have[pkg] = true
			have[pkg+":"+arch] = true
		}
	}
	var missing []string
	for _, p := range pkgs {
		if !have[name(p)] {
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
	args := append(append(c.baseArgs(), "install", "--"), missing...)
	if err := c.apt(ctx, args); err != nil {
		return nil, fmt.Errorf("apt: install %s: %w", strings.Join(missing, " "), err)
	}
	return missing, nil
}

// Purge removes the installed ones of pkgs and returns what it removed.
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
	for _, p := range dedup(pkgs) {
		if !gone[p] {
			present = append(present, p)
		}
	}
	if len(present) == 0 {
		return nil, nil
	}
	args := append(append(c.baseArgs(), "purge", "--"), present...)
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

// lockHeld recognises apt's messages for a dpkg or lists lock that is still
// held after DPkg::Lock::Timeout.
func lockHeld(stderr string) bool {
	return strings.Contains(stderr, "Could not get lock") ||
		strings.Contains(stderr, "Unable to acquire the dpkg frontend lock") ||
		strings.Contains(stderr, "Unable to lock directory")
}

// interrupted recognises dpkg's "you must manually run 'dpkg --configure -a'".
func interrupted(stderr string) bool {
	return strings.Contains(stderr, "dpkg --configure -a")
}

// apt runs apt-get with retries and exponential backoff. A held lock is
// not retried: apt already waited LockTimeout for it, and retrying would
// multiply that wait into what looks like a hang.
func (c *Client) apt(ctx context.Context, args []string) error {
	if err := CheckProxy(c.Proxy); err != nil {
		return err
	}
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
		sleep = host.Sleep
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Hour
	}
	repaired := false
	for attempt := 0; ; attempt++ {
		// Stdin is empty, never a terminal: a prompt reads EOF instead of
		// waiting for an answer.
		_, err := c.Run.Run(ctx, host.Cmd{Name: "apt-get", Args: args, Env: Env, Stdin: []byte{}, Timeout: timeout + c.lockTimeout()})
		if err == nil {
			return nil
		}
		var ee *host.ExitError
		if errors.As(err, &ee) {
			if lockHeld(ee.Stderr) {
				return fmt.Errorf("%w (waited %s): %w", ErrLocked, c.lockTimeout(), err)
			}
			if interrupted(ee.Stderr) && !repaired {
				repaired = true
				if _, rerr := c.Run.Run(ctx, host.Cmd{Name: "dpkg", Args: []string{"--configure", "-a", "--force-confdef", "--force-confold"}, Env: Env, Stdin: []byte{}, Timeout: timeout}); rerr != nil {
					return fmt.Errorf("repair interrupted dpkg: %w", rerr)
				}
				attempt-- // the repair does not count as a retry
				continue
			}
		}
		if attempt >= retries || ctx.Err() != nil {
			if attempt > 0 {
				return fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return err
		}
		if serr := sleep(ctx, delay); serr != nil {
			return err
		}
		delay *= 2
	}
}

// CheckProxy refuses a proxy URL with credentials in it: argv and logs are
// not the place for a password. Put such a proxy in apt.conf.d (the repos
// module writes it there with mode 0600).
func CheckProxy(proxy string) error {
	if proxy == "" {
		return nil
	}
	u, err := url.Parse(proxy)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("apt: proxy %q is not a URL like http://host:port", proxy)
	}
	if u.User != nil {
		return fmt.Errorf("apt: proxy URL carries credentials: refusing to pass it on a command line")
	}
	return nil
}

func dedup(pkgs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pkgs {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
