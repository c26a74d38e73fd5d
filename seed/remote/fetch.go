package remote

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Modes of asking an answer server.
const (
	// ModePost sends the JSON body (the installer's protocol, PDM).
	ModePost = "post"
	// ModeGet sends selectors as query parameters (static servers,
	// Matchbox's /generic?uuid=&mac=&serial=&hostname=).
	ModeGet = "get"
)

// SignatureHeader carries a detached seed signature (the bytes of
// seed.yaml.sig, base64) in a response. Static servers can instead serve
// it at the seed's URL path plus ".sig", as Matchbox serves /generic.sig.
const SignatureHeader = "Phoenix-Seed-Signature"

// ManifestHeader carries the signed manifest (the bytes of
// seed.yaml.manifest from `phoenix seed sign`, base64) that the signature
// covers: the seed's digest and a serial, so that an older signed seed
// replayed by the server (or anyone on a plain-http path) is refused once
// a newer serial was accepted. Static servers serve it at the seed's URL
// path plus ".manifest".
const ManifestHeader = "Phoenix-Seed-Manifest"

// Source is where a seed is fetched from, with how to trust and
// authenticate the server.
type Source struct {
	URL         string `yaml:"url" json:"url"`
	Fingerprint string `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"`
	TokenFile   string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	Mode        string `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// Check validates a source's fields (not the network).
func (s Source) Check() error {
	if _, err := CheckURL(s.URL); err != nil {
		return err
	}
	if s.Fingerprint != "" {
		if _, err := ParseFingerprint(s.Fingerprint); err != nil {
			return err
		}
	}
	if s.TokenFile != "" && !strings.HasPrefix(s.TokenFile, "/") {
		return fmt.Errorf("token_file %q: want an absolute path on this host", s.TokenFile)
	}
	switch s.Mode {
	case "", ModePost, ModeGet:
	default:
		return fmt.Errorf("mode %q: want post or get", s.Mode)
	}
	return nil
}

// Answer is a seed an answer server returned.
type Answer struct {
	URL  string // the URL asked (with the selectors in get mode)
	Data []byte
	// JSON is set when the server said application/json.
	JSON bool
	// Sig is the detached signature, nil when the server sent none.
	Sig []byte
	// Manifest is the manifest the signature covers, nil when the server
	// sent none.
	Manifest []byte
	// SigNote says why a signature file was ignored.
	SigNote string
}

// Fetcher asks one answer server for this host's seed.
type Fetcher struct {
	Root host.Root
	// Client is the HTTP client (fingerprint, timeout, roots).
	Client Client
	// TokenOwner is the uid a token file must belong to (root; tests use
	// their own uid).
	TokenOwner int
	// Body is what is sent (post) or where the selectors come from (get).
	Body Body
}

// ReadToken reads a Bearer token from a file that must be a regular file
// (not a symlink), owned by owner and not readable by group or others. The
// token is one line; its value never appears in an error.
func ReadToken(r host.Root, p string, owner int) (string, error) {
	fi, err := r.Lstat(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file (symlinks are refused)", p)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: mode %04o: a token file must be 0600 (readable by its owner only)", p, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != owner {
		return "", fmt.Errorf("%s: owned by uid %d: a token file must be owned by root", p, st.Uid)
	}
	b, err := r.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if tok == "" {
		return "", fmt.Errorf("%s: empty token", p)
	}
	for _, c := range []byte(tok) {
		if c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("%s: the token must be one line of printable ASCII without spaces", p)
		}
	}
	return tok, nil
}

// Fetch asks src for the seed. Every error is an *Error naming the URL and
// the cause; a 404 is CauseNotFound ("no seed for this host").
func (f *Fetcher) Fetch(ctx context.Context, src Source) (*Answer, error) {
	u, err := CheckURL(src.URL)
	if err != nil {
		return nil, &Error{URL: redactURL(src.URL), Cause: CauseURL, Err: err}
	}
	c := f.Client
	c.Fingerprint = src.Fingerprint
	if c.UserAgent == "" {
		c.UserAgent = "phoenix/" + f.Body.Phoenix.Version
	}
	var token string
	if src.TokenFile != "" {
		token, err = ReadToken(f.Root, src.TokenFile, f.TokenOwner)
		if err != nil {
			return nil, &Error{URL: u.String(), Cause: CauseToken, Err: err}
		}
	}
	req := request{url: u, header: [][2]string{{"Accept", "application/yaml, application/json;q=0.9, text/plain;q=0.5"}}}
	if token != "" {
		req.header = append(req.header, [2]string{"Authorization", "Bearer " + token})
	}
	if src.Mode == ModeGet {
		req.method = "GET"
		req.url = withSelectors(u, f.Body)
	} else {
		req.method = "POST"
		body, err := json.Marshal(f.Body)
		if err != nil {
			return nil, &Error{URL: u.String(), Cause: CauseProtocol, Err: err}
		}
		req.body = body
		req.header = append(req.header, [2]string{"Content-Type", "application/json; charset=utf-8"})
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	shown := req.url.String()
	if err := statusError(shown, resp, token); err != nil {
		return nil, err
	}
	a := &Answer{URL: shown, Data: resp.body, JSON: strings.HasPrefix(resp.header["content-type"], "application/json")}
	if s, ok := resp.header[strings.ToLower(SignatureHeader)]; ok {
		sig, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, &Error{URL: shown, Cause: CauseProtocol, Err: fmt.Errorf("%s header: not base64: %w", SignatureHeader, err)}
		}
		a.Sig = sig
		if m, ok := resp.header[strings.ToLower(ManifestHeader)]; ok {
			man, err := base64.StdEncoding.DecodeString(m)
			if err != nil {
				return nil, &Error{URL: shown, Cause: CauseProtocol, Err: fmt.Errorf("%s header: not base64: %w", ManifestHeader, err)}
			}
			a.Manifest = man
			return a, nil
		}
	}
	if req.method != "GET" {
		return a, nil
	}
	// A static server (or Matchbox) serves the signature and the manifest
	// next to the seed: same query, path plus ".sig" and ".manifest".
	sidecar := func(suffix string) ([]byte, string, error) {
		su := *req.url
		su.Path += suffix
		su.RawPath = ""
		sresp, err := c.do(ctx, request{method: "GET", url: &su, header: req.header[1:]})
		switch {
		case err != nil:
			return nil, "", err
		case sresp.status == 404:
			return nil, su.String(), nil
		case sresp.status != 200:
			return nil, "", statusError(su.String(), sresp, token)
		}
		return sresp.body, su.String(), nil
	}
	if a.Sig == nil {
		body, shown, err := sidecar(".sig")
		switch {
		case err != nil:
			return nil, err
		case body == nil:
			return a, nil
		case !bytes.HasPrefix(bytes.TrimSpace(body), []byte("-----BEGIN SSH SIGNATURE-----")):
			// Matchbox serves OpenPGP signatures at the same place
			// (/generic.sig); they are not Phoenix's to verify.
			a.SigNote = shown + ": not an SSH signature (OpenPGP?): ignored"
			return a, nil
		}
		a.Sig = body
	}
	man, _, err := sidecar(".manifest")
	if err != nil {
		return nil, err
	}
	a.Manifest = man
	return a, nil
}

// statusError turns anything but 200/201 into an *Error; the installer's
// post() accepts the same two (proxmox-installer-common src/http.rs).
func statusError(shown string, resp *response, token string) error {
	switch resp.status {
	case 200, 201:
		return nil
	case 404:
		// PDM answers 404 "no answer file found" when no prepared answer
		// matches (proxmox-datacenter-manager server/src/api/auto_installer
		// /mod.rs new_installation).
		return &Error{URL: shown, Cause: CauseNotFound, Status: 404}
	}
	msg := fmt.Sprintf("%d %s", resp.status, resp.reason)
	if first := firstLine(resp.body); first != "" {
		msg += ": " + first
	}
	// A server that echoes the request must not get the token into logs.
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "[token]")
	}
	if resp.status >= 300 && resp.status < 400 {
		msg += " (redirects are not followed: give the final URL)"
	}
	return &Error{URL: shown, Cause: CauseStatus, Status: resp.status, Err: errors.New(msg)}
}

// firstLine is the start of a body, printable, for messages.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}

// withSelectors adds Matchbox's reserved selectors (uuid, mac, serial,
// hostname; matchbox docs/matchbox.md) to the URL's own query. mac is the
// first NIC by name.
func withSelectors(u *url.URL, b Body) *url.URL {
	q := u.Query()
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("uuid", b.SysInfo.DMI.System["uuid"])
	if macs := b.SysInfo.MACs(); len(macs) > 0 {
		set("mac", macs[0])
	}
	set("serial", b.SysInfo.DMI.System["serial"])
	set("hostname", b.Phoenix.Hostname)
	out := *u
	out.RawQuery = q.Encode()
	return &out
}

// IsNotFound reports whether err is a 404 from the answer server.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Cause == CauseNotFound
}
