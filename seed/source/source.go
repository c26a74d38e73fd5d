package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
	"github.com/phoenix-pve/phoenix/seed/remote"
	"github.com/phoenix-pve/phoenix/seed/sign"
)

// Well-known names, in one place so tests and docs agree.
const (
	// Label is the filesystem label of a seed volume (matched case-insensitively).
	Label = "PHOENIX"
	// AISLabel is the Proxmox automated installer's volume; Phoenix reads
	// AISSeed on it so one stick can carry both.
	AISLabel = "PROXMOX-AIS"
	AISSeed  = "phoenix/seed.yaml"
	// ConfigDir holds the local seed, the trust policy and the trusted keys.
	ConfigDir = "/etc/phoenix"
	// AllowedSigners lists the keys trusted to sign volume seeds (ssh-keygen
	// ALLOWED SIGNERS format).
	AllowedSigners = ConfigDir + "/allowed_signers"
	// RequireSignedFile, when present, makes Phoenix refuse unsigned volume
	// seeds even before the first completion.
	RequireSignedFile = ConfigDir + "/require-signed"
	// Namespace is the ssh-keygen -Y namespace of seed signatures.
	Namespace = sign.Namespace
	// SigSuffix is appended to the seed file name for its signature.
	SigSuffix = ".sig"
	// DefaultWait is how long Locate waits for a late USB device.
	DefaultWait = 30 * time.Second
	// MaxSeedSize bounds a seed file read from anywhere.
	MaxSeedSize = seed.MaxSize
)

// LocalSeeds are the seed files under ConfigDir, in the order tried.
var LocalSeeds = []string{ConfigDir + "/seed.yaml", ConfigDir + "/seed.yml", ConfigDir + "/seed.json"}

// volumeSeeds are the names tried at the root of a PHOENIX volume.
var volumeSeeds = []string{"seed.yaml", "seed.yml", "seed.json"}

// Options say where Locate looks and what it trusts.
type Options struct {
	Root host.Root
	// Flag is --seed FILE: a path on this machine (not inside Root).
	Flag string
	// Devices are explicit devices or image files (real paths); scanning
	// /sys/class/block and waiting are skipped.
	Devices []string
	// Wait bounds the wait for a late USB device: 0 means DefaultWait, a
	// negative value means scan once.
	Wait time.Duration
	// Completed is set once the first run completed: from then on a volume
	// seed must be signed by a key in AllowedSigners.
	Completed bool
	// RequireSigned refuses unsigned volume seeds even before completion.
	// The file RequireSignedFile has the same effect.
	RequireSigned bool
	// Log receives warnings and the reasons a volume was ignored.
	Log func(string)
	// Now is the clock for signature validity windows (default time.Now).
	Now func() time.Time
	// Remote configures seeds fetched from an answer server.
	Remote Remote
}

// Found is the seed Locate chose.
type Found struct {
	// Origin says where the seed came from: "flag /root/seed.yaml",
	// "cmdline /srv/seed.yaml", "file /etc/phoenix/seed.yaml",
	// "volume /dev/sr0 (iso9660, label PHOENIX)".
	Origin string
	// Name is the seed's file name for error positions (and JSON detection).
	Name string
	Data []byte
	// Signed is true when a signature verified; Signer is its principal.
	Signed bool
	Signer string
	// Manifest is the signed manifest of a signed seed: CopyBundle checks
	// every file against it. Nil for unsigned and local seeds.
	Manifest *Manifest
	// Bundle reads the files the seed refers to (nil when Disabled).
	Bundle Bundle
	// Disabled is set by phoenix.disable on the kernel command line.
	Disabled bool
	// Trace is every step Locate took, for `phoenix seed locate`.
	Trace []string
	// source is set while a volume's source.yaml is being followed.
	source    *remote.Source
	sourceErr error
}

// NotFoundError says that no seed was found, and what was looked at.
type NotFoundError struct{ Trace []string }

// ErrNoSeed matches a *NotFoundError with errors.Is.
var ErrNoSeed = errors.New("no seed found")

func (e *NotFoundError) Error() string {
	return "seed: no seed found; looked at:\n  " + strings.Join(e.Trace, "\n  ")
}

func (e *NotFoundError) Is(target error) bool { return target == ErrNoSeed }

// locator carries one Locate call's state.
type locator struct {
	o     Options
	trace []string
}

func (l *locator) note(format string, args ...any) {
	l.trace = append(l.trace, fmt.Sprintf(format, args...))
}

func (l *locator) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.trace = append(l.trace, "warning: "+msg)
	if l.o.Log != nil {
		l.o.Log(msg)
	}
}

// Locate finds the seed, highest precedence first: --seed, the kernel
// command line (phoenix.seed=/path or label:NAME; phoenix.disable), the
// local files under /etc/phoenix, a volume labelled PHOENIX, then
// phoenix/seed.yaml on a PROXMOX-AIS volume. An explicit source that fails
// (missing --seed file) is an error, never a silent fall-through.
func Locate(ctx context.Context, o Options) (*Found, error) {
	if o.Root == nil {
		o.Root = host.NewDirRoot("/")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &locator{o: o}
	f, err := l.locate(ctx)
	if f != nil {
		f.Trace = l.trace
	}
	return f, err
}

func (l *locator) locate(ctx context.Context) (*Found, error) {
	if l.o.Remote.Source.URL != "" {
		src, err := l.withDefaults(l.o.Remote.Source)
		if err != nil {
			return nil, err
		}
		return l.fromURL(ctx, "--url", src)
	}
	if l.o.Flag != "" {
		l.note("--seed %s: given", l.o.Flag)
		if isURL(l.o.Flag) {
			src, err := l.withDefaults(remote.Source{URL: l.o.Flag})
			if err != nil {
				return nil, err
			}
			return l.fromURL(ctx, "--seed", src)
		}
		return l.fromFile("flag "+l.o.Flag, l.o.Flag)
	}
	l.note("--seed: not given")
	cmd := l.readCmdline()
	if cmd.disable {
		l.note("kernel command line: phoenix.disable")
		return &Found{Origin: "cmdline phoenix.disable", Disabled: true}, nil
	}
	label := Label
	if isURL(cmd.seed) {
		src, err := l.withDefaults(remote.Source{URL: cmd.seed, Fingerprint: cmd.fingerprint, Mode: cmd.mode})
		if err != nil {
			return nil, err
		}
		return l.fromURL(ctx, "kernel command line phoenix.seed", src)
	}
	if cmd.seed != "" {
		if name, ok := strings.CutPrefix(cmd.seed, "label:"); ok {
			if name == "" {
				return nil, fmt.Errorf("seed: kernel command line: phoenix.seed=label: needs a label")
			}
			l.note("kernel command line: phoenix.seed=label:%s", name)
			label = name
		} else {
			if !strings.HasPrefix(cmd.seed, "/") {
				return nil, fmt.Errorf("seed: kernel command line: phoenix.seed=%s: want an absolute path or label:NAME", cmd.seed)
			}
			l.note("kernel command line: phoenix.seed=%s", cmd.seed)
			f, err := l.fromFile("cmdline "+cmd.seed, l.o.Root.Path(cmd.seed))
			if f != nil {
				f.Name = cmd.seed
			}
			return f, err
		}
	} else {
		l.note("kernel command line: no phoenix.seed")
		for _, p := range LocalSeeds {
			if _, err := l.o.Root.Stat(p); err != nil {
				l.note("%s: %s", p, why(err))
				continue
			}
			f, err := l.fromFile("file "+p, l.o.Root.Path(p))
			if f != nil {
				f.Name = p
			}
			return f, err
		}
		if data, err := l.o.Root.ReadFile(LocalSource); err == nil {
			src, err := remote.ParseSource(LocalSource, data)
			if err != nil {
				return nil, fmt.Errorf("seed: %w", err)
			}
			return l.fromURL(ctx, LocalSource, src)
		} else {
			l.note("%s: %s", LocalSource, why(err))
		}
	}
	f, err := l.fromVolumes(ctx, label)
	if err != nil || f.source == nil {
		return f, err
	}
	// The volume named an answer server (source.yaml, judged like a seed).
	if f.sourceErr != nil {
		return nil, fmt.Errorf("seed: %s: %w", f.Origin, f.sourceErr)
	}
	src, err := l.withDefaults(*f.source)
	if err != nil {
		return nil, err
	}
	return l.fromURL(ctx, f.Origin+": "+remote.SourceFile, src)
}

// why renders a lookup error briefly.
func why(err error) string {
	if isNotExist(err) {
		return "absent"
	}
	return err.Error()
}

func (l *locator) readCmdline() cmdline {
	b, err := l.o.Root.ReadFile("/proc/cmdline")
	if err != nil {
		l.note("/proc/cmdline: %s", why(err))
		return cmdline{}
	}
	return parseCmdline(string(b))
}

// fromFile reads a local seed file: trusted, since root put it there.
func (l *locator) fromFile(origin, real string) (*Found, error) {
	data, err := readLimited(real)
	if err != nil {
		return nil, fmt.Errorf("seed: %s: %w", strings.TrimPrefix(origin, "flag "), err)
	}
	l.note("using %s (local file: trusted)", origin)
	return &Found{
		Origin: origin,
		Name:   real,
		Data:   data,
		Bundle: dirBundle{dir: filepath.Dir(real)},
	}, nil
}

// readLimited reads a seed file of at most MaxSeedSize bytes. Only regular
// files: a device (whose Stat size is 0) or a FIFO could otherwise feed an
// unbounded or foreign seed. The limit is enforced on the bytes read from
// the same open file, not on what Stat said.
func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("is a directory")
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s): a seed file must be a plain file", fi.Mode().Type())
	}
	if fi.Size() > MaxSeedSize {
		return nil, fmt.Errorf("%d bytes: larger than %d", fi.Size(), MaxSeedSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSeedSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSeedSize {
		return nil, fmt.Errorf("more than %d bytes: larger than the limit", MaxSeedSize)
	}
	return data, nil
}

// requireSigned reports whether unsigned volume seeds are refused before
// completion, and why.
func (l *locator) requireSigned() (bool, string) {
	if l.o.RequireSigned {
		return true, "signatures required by the configuration"
	}
	if host.Exists(l.o.Root, RequireSignedFile) {
		return true, "signatures required by " + RequireSignedFile
	}
	return false, ""
}

// judge applies the signature policy to a volume seed. It returns the
// signer (empty when unsigned) and the signed manifest, or why the seed is
// refused. A signature covers the manifest (seed.yaml.manifest), which
// names the seed's digest, its bundle files' digests and a serial.
func (l *locator) judge(name string, data, sig, manifest []byte) (signed bool, signer string, man *Manifest, refuse error) {
	required, reason := l.requireSigned()
	if sig == nil {
		switch {
		case l.o.Completed:
			return false, "", nil, fmt.Errorf("unsigned seed ignored after the first completion: sign it with `phoenix seed sign` and list the key in %s", AllowedSigners)
		case required:
			return false, "", nil, fmt.Errorf("unsigned seed refused: %s", reason)
		}
		return false, "", nil, nil
	}
	allowed, err := l.o.Root.ReadFile(AllowedSigners)
	if err != nil {
		if !isNotExist(err) {
			return false, "", nil, fmt.Errorf("read %s: %w", AllowedSigners, err)
		}
		if l.o.Completed || required {
			return false, "", nil, fmt.Errorf("%s%s present but %s is absent: cannot verify it", name, SigSuffix, AllowedSigners)
		}
		l.warn("%s%s not verified: %s is absent (accepted unsigned before the first completion)", name, SigSuffix, AllowedSigners)
		return false, "", nil, nil
	}
	// From here on the signature is meant to be checked, so anything wrong
	// with it refuses the seed, even before completion.
	if manifest == nil {
		return false, "", nil, fmt.Errorf("%s%s: no %s next to it: a signature covers the seed's manifest; sign it again with `phoenix seed sign`", name, SigSuffix, path.Base(manifestName(name)))
	}
	ok, principal, err := l.verify(name, manifest, sig, allowed)
	if err != nil || !ok {
		return false, "", nil, err
	}
	man, err = ParseManifest(manifest)
	if err != nil {
		return false, "", nil, fmt.Errorf("%s: %w", manifestName(name), err)
	}
	if err := man.CheckSeed(data); err != nil {
		return false, "", nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkSerial(l.o.Root, man); err != nil {
		return false, "", nil, fmt.Errorf("%s: %w", manifestName(name), err)
	}
	return true, principal, man, nil
}

// verify checks a detached signature of data against the allowed signers.
func (l *locator) verify(name string, data, sig, allowed []byte) (bool, string, error) {
	signers, err := sign.ParseAllowedSigners(allowed)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", AllowedSigners, err)
	}
	principal, err := sign.Verify(signers, Namespace, data, sig, l.o.Now())
	if err != nil {
		// A signature that does not verify is refused even before
		// completion: someone meant it to be checked.
		return false, "", fmt.Errorf("%s%s: %w", name, SigSuffix, err)
	}
	return true, principal, nil
}

// sigName is the signature file next to a seed file on a volume.
func sigName(seedPath string) string { return path.Clean(seedPath) + SigSuffix }

// manifestName is the manifest file next to a seed file on a volume.
func manifestName(seedPath string) string { return path.Clean(seedPath) + ManifestSuffix }
