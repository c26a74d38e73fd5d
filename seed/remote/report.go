package remote

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed/sign"
)

// ReportSchemaVersion is the version of the run report's format.
const ReportSchemaVersion = "1.0"

// RunReport is what Phoenix posts to the seed's report URL when a run ends.
// It mirrors the installer's post-installation webhook body (pve-installer
// proxmox-post-hook/src/main.rs PostHookInfo: dmi, machine_id,
// network_interfaces, ssh_public_host_keys) with the run's outcome.
type RunReport struct {
	Schema   Schema            `json:"schema"`
	State    string            `json:"state"` // done, failed, invalid, rebooting
	Error    string            `json:"error,omitempty"`
	Started  time.Time         `json:"started,omitzero"`
	Finished time.Time         `json:"finished,omitzero"`
	Seed     ReportSeed        `json:"seed"`
	Modules  []ReportModule    `json:"modules"`
	Phoenix  Phoenix           `json:"phoenix"`
	DMI      DMI               `json:"dmi"`
	NICs     []NIC             `json:"network_interfaces"`
	HostKeys SSHHostKeys       `json:"ssh_public_host_keys"`
	KeyFPs   map[string]string `json:"ssh_host_key_fingerprints"`
}

// ReportSeed says which seed ran.
type ReportSeed struct {
	Origin string `json:"origin,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// ReportModule is one module's outcome.
type ReportModule struct {
	Name    string   `json:"name"`
	State   string   `json:"state"`
	Seconds float64  `json:"seconds,omitempty"`
	Error   string   `json:"error,omitempty"`
	Changed []string `json:"changed,omitempty"`
}

// SSHHostKeys are the host's public keys by type, as the installer sends
// them (the .pub lines).
type SSHHostKeys map[string]string

// GatherHostKeys reads /etc/ssh/ssh_host_*_key.pub: the public lines and
// their SHA256 fingerprints as `ssh-keygen -l` prints them. Private keys
// are never read.
func GatherHostKeys(r host.Root) (SSHHostKeys, map[string]string) {
	keys, fps := SSHHostKeys{}, map[string]string{}
	ents, err := r.ReadDir("/etc/ssh")
	if err != nil {
		return keys, fps
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "ssh_host_") || !strings.HasSuffix(n, "_key.pub") {
			continue
		}
		typ := strings.TrimSuffix(strings.TrimPrefix(n, "ssh_host_"), "_key.pub")
		b, err := r.ReadFile(path.Join("/etc/ssh", n))
		if err != nil {
			continue
		}
		line := strings.TrimSpace(string(b))
		keys[typ] = line
		if f := strings.Fields(line); len(f) >= 2 {
			if blob, err := base64.StdEncoding.DecodeString(f[1]); err == nil {
				fps[typ] = sign.Fingerprint(blob)
			}
		}
	}
	return keys, fps
}

// Reporter posts run reports: a few tries with a backoff, each bounded,
// so a dead report server delays the end of a run by at most about 20 s.
type Reporter struct {
	Root       host.Root
	Client     Client
	TokenOwner int
	// Tries and Backoff: default 3 tries, 2 s then 4 s apart.
	Tries   int
	Backoff time.Duration
	Sleep   func(ctx context.Context, d time.Duration) error
}

// Post sends body to url. Every error names the URL and cause; the token
// (read from tokenFile) never appears in one.
func (p *Reporter) Post(ctx context.Context, rawURL, tokenFile, fingerprint string, body any) error {
	u, err := CheckURL(rawURL)
	if err != nil {
		return &Error{URL: redactURL(rawURL), Cause: CauseURL, Err: err}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return &Error{URL: u.String(), Cause: CauseProtocol, Err: err}
	}
	c := p.Client
	c.Fingerprint = fingerprint
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	req := request{method: "POST", url: u, body: data, header: [][2]string{{"Content-Type", "application/json; charset=utf-8"}}}
	var tok string
	if tokenFile != "" {
		tok, err = ReadToken(p.Root, tokenFile, p.TokenOwner)
		if err != nil {
			return &Error{URL: u.String(), Cause: CauseToken, Err: err}
		}
		req.header = append(req.header, [2]string{"Authorization", "Bearer " + tok})
	}
	tries, backoff, sleep := p.Tries, p.Backoff, p.Sleep
	if tries <= 0 {
		tries = 3
	}
	if backoff <= 0 {
		backoff = 2 * time.Second
	}
	if sleep == nil {
		sleep = host.Sleep
	}
	var last error
	for i := 0; i < tries; i++ {
		if i > 0 {
			if err := sleep(ctx, backoff); err != nil {
				return last
			}
			backoff *= 2
		}
		resp, err := c.do(ctx, req)
		if err == nil {
			if resp.status >= 200 && resp.status < 300 {
				return nil
			}
			msg := fmt.Sprintf("%d %s", resp.status, resp.reason)
			if first := firstLine(resp.body); first != "" {
				msg += ": " + first
			}
			if tok != "" {
				msg = strings.ReplaceAll(msg, tok, "[token]")
			}
			err = &Error{URL: u.String(), Cause: CauseStatus, Status: resp.status, Err: errors.New(msg)}
		}
		last = err
		var re *Error
		if errors.As(err, &re) && !(re.Temporary() || re.Cause == CauseNotFound) {
			break
		}
	}
	return fmt.Errorf("report: %w (gave up; the run is not affected)", last)
}
