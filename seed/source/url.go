package source

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed/remote"
)

// LocalSource is the file naming an answer server, tried after the local
// seed files.
const LocalSource = ConfigDir + "/" + remote.SourceFile

// DefaultURLWait bounds the retries at boot while an answer server is
// unreachable or has no seed for this host yet (404).
const DefaultURLWait = 2 * time.Minute

// Remote configures seeds fetched from an answer server.
type Remote struct {
	// Source, when its URL is set, is the answer server given by the
	// caller (`phoenix seed locate --url`). With Options.Flag or
	// phoenix.seed= naming a URL, its other fields (and then
	// /etc/phoenix/source.yaml's) add the fingerprint, token and mode.
	Source remote.Source
	// Version is Phoenix's version and SeedDigest the digest of the seed
	// last applied, both sent to the server.
	Version    string
	SeedDigest string
	// Wait bounds retries of temporary failures and 404: 0 means
	// DefaultURLWait, negative asks once.
	Wait time.Duration
	// Offline refuses a seed from an answer server with ErrNeedsNetwork
	// and sends nothing (phoenix run --early, before the network: the
	// seed is fetched once, by phoenix.service).
	Offline bool
	// Roots replaces the system roots (tests); Timeout bounds one request.
	Roots   *x509.CertPool
	Timeout time.Duration
	// TokenOwner is the uid token files must belong to (default root).
	TokenOwner int
	// LookupTXT replaces the DNS resolver for discovery (tests).
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Sleep waits between retries (tests; default a timer).
	Sleep func(ctx context.Context, d time.Duration) error
}

// ErrNeedsNetwork is returned, without a request, for a seed from an answer
// server when Remote.Offline is set.
var ErrNeedsNetwork = errors.New("the seed comes from an answer server, and this run is before the network")

// isURL reports whether a --seed or phoenix.seed= value is a URL.
func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") || s == remote.Discover
}

// withDefaults fills what src leaves empty from the caller's Remote.Source
// and then from /etc/phoenix/source.yaml. A fingerprint and a token only
// go with the server they were given for (same scheme, host and port): a
// URL typed on the kernel command line must not receive the token meant
// for another server.
func (l *locator) withDefaults(src remote.Source) (remote.Source, error) {
	fill := func(from remote.Source) {
		if from.URL != "" && !sameServer(from.URL, src.URL) {
			if src.Mode == "" {
				src.Mode = from.Mode
			}
			return
		}
		if src.Fingerprint == "" {
			src.Fingerprint = from.Fingerprint
		}
		if src.TokenFile == "" {
			src.TokenFile = from.TokenFile
		}
		if src.Mode == "" {
			src.Mode = from.Mode
		}
	}
	fill(l.o.Remote.Source)
	if data, err := l.o.Root.ReadFile(LocalSource); err == nil {
		file, err := remote.ParseSource(LocalSource, data)
		if err != nil {
			return src, fmt.Errorf("seed: %w", err)
		}
		fill(file)
	}
	return src, nil
}

// sameServer reports whether two URLs name the same scheme, host and port.
func sameServer(a, b string) bool {
	if a == remote.Discover || b == remote.Discover {
		return a == b
	}
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	return ua.Scheme == ub.Scheme && strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub)
}

// fromURL fetches the seed from an answer server, retrying temporary
// failures (and 404) with a bounded backoff, and applies the trust rule:
// https (system roots or the pinned fingerprint) is trusted like a local
// file; plain http only with a signature that verifies; a signature that
// is present must always verify.
func (l *locator) fromURL(ctx context.Context, origin string, src remote.Source) (*Found, error) {
	if l.o.Remote.Offline {
		return nil, fmt.Errorf("seed: %s: %w", origin, ErrNeedsNetwork)
	}
	if src.URL == remote.Discover {
		// DHCP and DNS answers are unauthenticated: the token only goes to
		// a discovered server whose certificate the source file pins.
		if src.TokenFile != "" && src.Fingerprint == "" {
			return nil, fmt.Errorf("seed: %s: url: discover with a token_file needs a fingerprint in the same file: a discovered server is not trusted with the token", origin)
		}
		d := remote.Discovery{Root: l.o.Root, LookupTXT: l.o.Remote.LookupTXT}
		found, trace, err := d.Find(ctx, src.Fingerprint)
		for _, t := range trace {
			l.note("%s", t)
		}
		if err != nil {
			return nil, err
		}
		found.TokenFile, found.Mode = src.TokenFile, src.Mode
		src = found
	}
	if err := src.Check(); err != nil {
		return nil, fmt.Errorf("seed: %s: %w", origin, err)
	}
	trust := "system roots"
	if src.Fingerprint != "" {
		trust = "pinned certificate"
	}
	if strings.HasPrefix(src.URL, "http://") {
		trust = "plain http: the seed must be signed"
	}
	how := src.Mode
	if how == "" {
		how = remote.ModePost
	}
	tok := "no token"
	if src.TokenFile != "" {
		tok = "token from " + src.TokenFile
	}
	l.note("%s: %s %s (%s, %s)", origin, strings.ToUpper(how), src.URL, trust, tok)
	f := &remote.Fetcher{
		Root:       l.o.Root,
		Client:     remote.Client{Roots: l.o.Remote.Roots, Timeout: l.o.Remote.Timeout, MaxBody: MaxSeedSize},
		TokenOwner: l.o.Remote.TokenOwner,
		Body: remote.Body{
			Schema:  remote.Schema{Version: remote.SchemaVersion},
			SysInfo: remote.GatherSysInfo(l.o.Root),
			Phoenix: remote.GatherPhoenix(l.o.Root, l.o.Remote.Version, l.o.Remote.SeedDigest),
		},
	}
	a, err := l.fetchRetrying(ctx, f, src)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if a.SigNote != "" {
		l.note("%s", a.SigNote)
	}
	u, _ := url.Parse(src.URL)
	signed, signer, man, err := l.judgeURL(u.Scheme == "https", a)
	if err != nil {
		return nil, fmt.Errorf("seed: %s: %w", a.URL, &remote.Error{URL: a.URL, Cause: remote.CauseRefused, Err: err})
	}
	note := "unsigned, " + trust
	if signed {
		note = "signed by " + signer
	}
	l.note("using %s (%s)", a.URL, note)
	name := a.URL
	if a.JSON && !strings.HasSuffix(strings.ToLower(u.Path), ".json") {
		name += "#seed.json"
	}
	return &Found{
		Origin:   "url " + a.URL,
		Name:     name,
		Data:     a.Data,
		Signed:   signed,
		Signer:   signer,
		Manifest: man,
		Bundle:   noBundle{url: a.URL},
	}, nil
}

// fetchRetrying asks again after temporary failures and 404 until the wait
// is spent: 1 s, 2 s, 4 s ... up to 30 s between tries.
func (l *locator) fetchRetrying(ctx context.Context, f *remote.Fetcher, src remote.Source) (*remote.Answer, error) {
	wait := l.o.Remote.Wait
	if wait == 0 {
		wait = DefaultURLWait
	}
	sleep := l.o.Remote.Sleep
	if sleep == nil {
		sleep = host.Sleep
	}
	var waited time.Duration
	delay := time.Second
	for attempt := 1; ; attempt++ {
		a, err := f.Fetch(ctx, src)
		if err == nil {
			return a, nil
		}
		var re *remote.Error
		temporary := errors.As(err, &re) && re.Temporary()
		if !temporary || wait < 0 || waited+delay > wait {
			if attempt > 1 {
				l.note("%v (after %d tries in %s)", err, attempt, waited)
				return nil, fmt.Errorf("%w (after %d tries in %s)", err, attempt, waited)
			}
			l.note("%v", err)
			return nil, err
		}
		l.warn("%v; trying again in %s", err, delay)
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%s: %w", src.URL, err)
		}
		waited += delay
		delay = min(delay*2, 30*time.Second)
	}
}

// judgeURL applies the signature rule to a fetched seed. A signature
// covers the seed's manifest (`phoenix seed sign` writes both), as on a
// volume: the manifest holds the seed's digest and a serial, and a serial
// older than the newest accepted on this host (SerialFile, shared with
// volume seeds) is refused, so an older signed seed cannot be replayed.
// The serial is recorded once the seed runs (Found.RecordSerial).
func (l *locator) judgeURL(tls bool, a *remote.Answer) (bool, string, *Manifest, error) {
	if a.Sig == nil {
		if !tls {
			return false, "", nil, fmt.Errorf("a seed fetched over plain http must be signed (serve seed.yaml.sig and seed.yaml.manifest, or use https)")
		}
		return false, "", nil, nil
	}
	allowed, err := l.o.Root.ReadFile(AllowedSigners)
	if err != nil {
		if tls && isNotExist(err) {
			l.warn("%s: signature not verified: %s is absent (accepted: https authenticated the server)", a.URL, AllowedSigners)
			return false, "", nil, nil
		}
		return false, "", nil, fmt.Errorf("signature cannot be verified: %s: %w", AllowedSigners, err)
	}
	if a.Manifest == nil {
		return false, "", nil, fmt.Errorf("signature without a manifest: a signature covers seed.yaml.manifest (its serial stops replays); serve the manifest from `phoenix seed sign` in the %s header or at the seed's path plus %s", remote.ManifestHeader, ManifestSuffix)
	}
	ok, principal, err := l.verify(a.URL, a.Manifest, a.Sig, allowed)
	if err != nil || !ok {
		return false, "", nil, err
	}
	man, err := ParseManifest(a.Manifest)
	if err != nil {
		return false, "", nil, fmt.Errorf("%s: %w", a.URL+ManifestSuffix, err)
	}
	if err := man.CheckSeed(a.Data); err != nil {
		return false, "", nil, err
	}
	if err := checkSerial(l.o.Root, man); err != nil {
		return false, "", nil, fmt.Errorf("%s: %w", a.URL+ManifestSuffix, err)
	}
	return true, principal, man, nil
}

// noBundle is a fetched seed's: it has no files beside it.
type noBundle struct{ url string }

func (b noBundle) String() string { return b.url }

func (b noBundle) Open(rel string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("%s: a seed fetched from an answer server carries no files; put the file on the host (absolute path) or use a URL with sha256", rel)
}
