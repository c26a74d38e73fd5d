package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/phoenix-pve/phoenix/bootstrap"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
	"github.com/phoenix-pve/phoenix/seed/image"
	"github.com/phoenix-pve/phoenix/seed/remote"
	"github.com/phoenix-pve/phoenix/seed/sign"
	"github.com/phoenix-pve/phoenix/seed/source"
)

func init() {
	register(command{name: "seed", summary: "seed locate|build|render|sign|verify: find, pack, render and sign seeds", run: runSeed})
}

const seedUsage = `usage:
  phoenix seed locate [--device PATH...] [--root DIR] [--seed FILE|URL] [--wait DURATION] [--completed]
  phoenix seed locate --url URL [--fingerprint SHA256] [--token-file FILE] [--get] [--root DIR] [--wait DURATION]
  phoenix seed build -o OUT [--iso|--fat|--usb] [--gpt] [--size SIZE] [--fat-type 12|16|32] seed.yaml [FILE...]
  phoenix seed render [--match KEY=VALUE...] seed.yaml
  phoenix seed sign [-k KEY] [--serial N] seed.yaml
  phoenix seed verify [--allowed-signers FILE] seed.yaml`

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, seedUsage)
		return exitUsage
	}
	switch args[0] {
	case "locate":
		return seedLocate(ctx, args[1:], stdout, stderr)
	case "build":
		return seedBuild(args[1:], stdout, stderr)
	case "sign":
		return seedSign(ctx, args[1:], stdout, stderr)
	case "verify":
		return seedVerify(args[1:], stdout, stderr)
	case "render":
		return seedRender(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, seedUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "phoenix seed: unknown subcommand %q\n%s\n", args[0], seedUsage)
	return exitUsage
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// seedLocate prints where the seed would come from and why, step by step
// (like cloud-init's ds-identify). Exit 0 found, 1 not found or refused.
func seedLocate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix seed locate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var devices multiFlag
	fs.Var(&devices, "device", "probe this device or image `PATH` instead of scanning /sys/class/block (repeatable)")
	rootDir := fs.String("root", "/", "look at the system mounted at `DIR`")
	seedFile := fs.String("seed", "", "an explicit seed `FILE` (as phoenix run --seed)")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` for a late USB device (default: scan once)")
	completed := fs.Bool("completed", false, "apply the after-completion policy (default: read the completion record)")
	seedURL := fs.String("url", "", "ask the answer server at `URL` (https, or http with a signed seed)")
	fingerprint := fs.String("fingerprint", "", "pin the server certificate's `SHA256` fingerprint (hex, colons allowed)")
	tokenFile := fs.String("token-file", "", "send the Bearer token in `FILE` (0600, owned by root)")
	get := fs.Bool("get", false, "GET with uuid/mac/serial/hostname selectors (static server, Matchbox) instead of POST")
	if fs.Parse(args) != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, seedUsage)
		return exitUsage
	}
	if *seedURL == "" && (*fingerprint != "" || *tokenFile != "" || *get) {
		fmt.Fprintln(stderr, "phoenix seed locate: --fingerprint, --token-file and --get go with --url")
		return exitUsage
	}
	if *seedURL != "" && (*seedFile != "" || len(devices) > 0) {
		fmt.Fprintln(stderr, "phoenix seed locate: --url excludes --seed and --device")
		return exitUsage
	}
	root := host.NewDirRoot(*rootDir)
	o := source.Options{
		Root:      root,
		Flag:      *seedFile,
		Devices:   devices,
		Wait:      *wait,
		Completed: *completed || host.Exists(root, bootstrap.CompletionFile),
		Remote:    remoteOptions(root),
	}
	if *seedURL != "" {
		o.Remote.Source = remote.Source{URL: *seedURL, Fingerprint: *fingerprint, TokenFile: *tokenFile}
		if *get {
			o.Remote.Source.Mode = remote.ModeGet
		}
		if err := o.Remote.Source.Check(); err != nil {
			fmt.Fprintf(stderr, "phoenix seed locate: %v\n", err)
			return exitUsage
		}
	}
	if o.Wait == 0 {
		o.Wait = -1
	}
	o.Remote.Wait = o.Wait
	f, err := source.Locate(ctx, o)
	var nf *source.NotFoundError
	switch {
	case errors.As(err, &nf):
		for _, l := range nf.Trace {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprintln(stdout, "result: no seed found")
		return exitFailed
	case err != nil:
		fmt.Fprintf(stderr, "phoenix seed locate: %v\n", err)
		return exitFailed
	}
	for _, l := range f.Trace {
		fmt.Fprintln(stdout, l)
	}
	if f.Disabled {
		fmt.Fprintln(stdout, "result: disabled by phoenix.disable")
		return exitOK
	}
	fmt.Fprintf(stdout, "result: %s\n", f.Origin)
	fmt.Fprintf(stdout, "digest: %s\n", bootstrap.Digest(f.Data))
	if f.Signed {
		fmt.Fprintf(stdout, "signed by: %s\n", f.Signer)
	}
	if _, err := seed.Load(f.Name, f.Data); err != nil {
		fmt.Fprintf(stdout, "invalid: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// parseSize reads 64M, 1G, 512K or plain bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 64M)", s)
	}
	return n * mult, nil
}

// seedBuild validates the seed and writes an image labelled PHOENIX with
// the seed, its signature (seed.yaml.sig next to it, if any), the files it
// refers to (found next to it unless given) and any extra FILEs.
func seedBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix seed build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the image to `OUT`")
	iso := fs.Bool("iso", false, "ISO9660 image with Joliet and Rock Ridge (the default)")
	fat := fs.Bool("fat", false, "bare FAT image (no partition table)")
	usb := fs.Bool("usb", false, "USB-stick image: partition table + FAT partition")
	gpt := fs.Bool("gpt", false, "with --usb: GPT instead of MBR")
	sizeFlag := fs.String("size", "", "FAT/USB image `SIZE` (e.g. 64M; default: fit the content)")
	fatType := fs.Int("fat-type", 0, "force FAT12, 16 or 32 (default: by size)")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, seedUsage)
		return exitOK
	}
	if err != nil || fs.NArg() < 1 || *out == "" || btoi(*iso)+btoi(*fat)+btoi(*usb) > 1 {
		fmt.Fprintln(stderr, "phoenix seed build: need -o OUT, at most one of --iso (the default), --fat, --usb, and a seed file")
		fmt.Fprintln(stderr, seedUsage)
		return exitUsage
	}
	o := image.Options{Kind: image.ISO, GPT: *gpt, FATType: *fatType}
	switch {
	case *fat:
		o.Kind = image.FAT
	case *usb:
		o.Kind = image.USB
	}
	if (*gpt && o.Kind != image.USB) || ((*sizeFlag != "" || *fatType != 0) && o.Kind == image.ISO) {
		fmt.Fprintln(stderr, "phoenix seed build: --gpt needs --usb; --size and --fat-type need --fat or --usb")
		return exitUsage
	}
	if *sizeFlag != "" {
		n, err := parseSize(*sizeFlag)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix seed build: %v\n", err)
			return exitUsage
		}
		o.Size = n
	}
	files, err := buildFiles(fs.Arg(0), fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed build: %v\n", err)
		return exitFailed
	}
	if err := image.Build(*out, o, files); err != nil {
		fmt.Fprintf(stderr, "phoenix seed build: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "wrote %s (label %s):\n", *out, image.Label)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f.Path)
	}
	return exitOK
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildFiles lists what goes on a seed image.
func buildFiles(seedPath string, extra []string) ([]image.File, error) {
	data, err := os.ReadFile(seedPath)
	if err != nil {
		return nil, err
	}
	s, err := seed.Load(seedPath, data)
	if err != nil {
		return nil, err // already reads as "seed.yaml:12:7: ..."
	}
	name := "seed.yaml"
	if strings.HasSuffix(seedPath, ".json") {
		name = "seed.json"
	}
	files := []image.File{{Path: name, Data: data}}
	dir := filepath.Dir(seedPath)
	if sig, err := os.ReadFile(seedPath + source.SigSuffix); err == nil {
		files = append(files, image.File{Path: name + source.SigSuffix, Data: sig})
		if man, err := os.ReadFile(seedPath + source.ManifestSuffix); err == nil {
			files = append(files, image.File{Path: name + source.ManifestSuffix, Data: man})
		}
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	for _, e := range extra {
		rel := filepath.Base(e)
		if r, err := filepath.Rel(dir, e); err == nil && !strings.HasPrefix(r, "..") && !filepath.IsAbs(r) {
			rel = filepath.ToSlash(r)
		}
		if have[rel] {
			return nil, fmt.Errorf("%s: %s is already on the image", e, rel)
		}
		have[rel] = true
		files = append(files, image.File{Path: rel, Source: e})
	}
	var refs []string
	for _, eff := range s.HostSeeds() {
		refs = append(refs, source.Referenced(eff)...)
	}
	for _, ref := range refs {
		c, err := source.CleanRel(ref)
		if err != nil {
			return nil, fmt.Errorf("%s refers to %w", seedPath, err)
		}
		if have[c] {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(c))
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s refers to %s, not found at %s (give it as FILE)", seedPath, c, p)
		}
		have[c] = true
		files = append(files, image.File{Path: c, Source: p})
	}
	return files, nil
}

// seedSign writes seed.yaml.manifest (the digests of the seed and of every
// file it pulls from its volume, and a serial) and seed.yaml.sig, an SSH
// signature of the manifest in namespace phoenix-seed. Unencrypted ed25519
// keys are handled in Go; any other key (encrypted, RSA, ECDSA, FIDO) is
// handed to ssh-keygen -Y sign, which can prompt for a passphrase or use
// the agent.
func seedSign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix seed sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home, _ := os.UserHomeDir()
	key := fs.String("k", filepath.Join(home, ".ssh", "id_ed25519"), "private `KEY` file")
	serial := fs.Uint64("serial", 0, "manifest serial `N` (default: the time in seconds, above the previous manifest's); a host refuses a serial older than the newest it accepted")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, seedUsage)
		return exitUsage
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed sign: %v\n", err)
		return exitFailed
	}
	s, err := seed.Load(file, data)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed sign: refusing to sign an invalid seed: %v\n", err)
		return exitFailed
	}
	keyData, err := os.ReadFile(*key)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed sign: %v\n", err)
		return exitFailed
	}
	manFile := file + source.ManifestSuffix
	if *serial == 0 {
		*serial = uint64(time.Now().Unix())
		if old, err := os.ReadFile(manFile); err == nil {
			if m, err := source.ParseManifest(old); err == nil && m.Serial >= *serial {
				*serial = m.Serial + 1
			}
		}
	}
	refs := source.Referenced(s)
	man, err := source.BuildManifest(data, *serial, source.DirBundle(filepath.Dir(file)), refs)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed sign: %s refers to %v\n", file, err)
		return exitFailed
	}
	out := file + source.SigSuffix
	priv, err := sign.ParsePrivateKey(keyData)
	switch {
	case err == nil:
		if err := renameio.WriteFile(manFile, man, 0o644); err != nil {
			fmt.Fprintf(stderr, "phoenix seed sign: %v\n", err)
			return exitFailed
		}
		if err := signGo(priv, man, out); err != nil {
			fmt.Fprintf(stderr, "phoenix seed sign: %v\n", err)
			return exitFailed
		}
	case errors.Is(err, sign.ErrUnsupportedKey):
		if err := renameio.WriteFile(manFile, man, 0o644); err != nil {
			fmt.Fprintf(stderr, "phoenix seed sign: %v\n", err)
			return exitFailed
		}
		// ssh-keygen writes FILE.sig next to what it signs and refuses to
		// overwrite an existing one.
		_ = os.Remove(manFile + source.SigSuffix)
		_, err := host.NewExecRunner().Run(ctx, host.Cmd{Name: "ssh-keygen", Args: []string{"-Y", "sign", "-f", *key, "-n", source.Namespace, manFile}, Timeout: 5 * time.Minute})
		if err == nil {
			err = os.Rename(manFile+source.SigSuffix, out)
		}
		if err != nil {
			fmt.Fprintf(stderr, "phoenix seed sign: %v\n", err)
			return exitFailed
		}
	default:
		fmt.Fprintf(stderr, "phoenix seed sign: %s: %v\n", *key, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "wrote %s (serial %d, %d file(s))\n", manFile, *serial, len(refs))
	fmt.Fprintf(stdout, "wrote %s (namespace %s)\n", out, source.Namespace)
	return exitOK
}

func signGo(priv ed25519.PrivateKey, data []byte, out string) error {
	sig, err := sign.SignEd25519(priv, source.Namespace, data)
	if err != nil {
		return err
	}
	return renameio.WriteFile(out, sig.Marshal(), 0o644)
}

// seedVerify checks seed.yaml.sig and seed.yaml.manifest against an
// allowed signers file and the files next to the seed, as Phoenix will at
// boot: a changed seed or bundle file is named.
func seedVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix seed verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowed := fs.String("allowed-signers", source.AllowedSigners, "allowed signers `FILE`")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, seedUsage)
		return exitUsage
	}
	file := fs.Arg(0)
	who, m, err := verifySeedFile(file, *allowed)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed verify: %s: %v\n", file, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: good signature by %s (serial %d, %d file(s) checked)\n", file, who, m.Serial, len(m.Files))
	return exitOK
}

func verifySeedFile(file, allowed string) (string, *source.Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	sig, err := os.ReadFile(file + source.SigSuffix)
	if err != nil {
		return "", nil, err
	}
	manData, err := os.ReadFile(file + source.ManifestSuffix)
	if err != nil {
		return "", nil, fmt.Errorf("%w (a signature covers the manifest: sign again with `phoenix seed sign`)", err)
	}
	as, err := os.ReadFile(allowed)
	if err != nil {
		return "", nil, err
	}
	signers, err := sign.ParseAllowedSigners(as)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", allowed, err)
	}
	who, err := sign.Verify(signers, source.Namespace, manData, sig, time.Now())
	if err != nil {
		return "", nil, err
	}
	m, err := source.ParseManifest(manData)
	if err != nil {
		return "", nil, err
	}
	if err := m.CheckSeed(data); err != nil {
		return "", nil, err
	}
	s, err := seed.Load(file, data)
	if err != nil {
		return "", nil, err
	}
	if err := m.CheckBundle(source.DirBundle(filepath.Dir(file)), source.Referenced(s)); err != nil {
		return "", nil, err
	}
	return who, m, nil
}

// remoteOptions says who asks an answer server: this build and the seed
// it applied last (from status.json).
func remoteOptions(root host.Root) source.Remote {
	r := source.Remote{Version: version}
	if st, found, err := bootstrap.ReadStatus(root); err == nil && found {
		r.SeedDigest = st.Seed.Digest
	}
	return r
}

// seedRender prints the effective seed for the machine the --match
// selectors describe (the base without any): what `phoenix run` would use
// there. Exit 1 when the seed is invalid or the match is ambiguous or
// required but missing.
func seedRender(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phoenix seed render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var matches multiFlag
	fs.Var(&matches, "match", "describe the machine: `KEY=VALUE` with KEY serial, uuid, mac (repeatable) or hostname")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, seedUsage)
		return exitUsage
	}
	var id seed.Identity
	for _, m := range matches {
		k, v, ok := strings.Cut(m, "=")
		switch {
		case !ok || v == "":
			fmt.Fprintf(stderr, "phoenix seed render: --match %q: want KEY=VALUE\n", m)
			return exitUsage
		case k == "serial":
			id.Serial = v
		case k == "uuid":
			id.UUID = v
		case k == "hostname":
			id.Hostname = v
		case k == "mac":
			id.MACs = append(id.MACs, v)
		default:
			fmt.Fprintf(stderr, "phoenix seed render: --match %q: KEY is serial, uuid, mac or hostname\n", m)
			return exitUsage
		}
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed render: %v\n", err)
		return exitFailed
	}
	s, err := seed.Load(file, data)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed render: %v\n", err)
		return exitFailed
	}
	out, why, err := s.Render(id)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix seed render: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "# effective seed: %s\n", why)
	_, _ = stdout.Write(out)
	return exitOK
}

// machineIdentity is what this machine (or the offline root) is matched
// by in a seed's hosts list: DMI serial and uuid, NIC MACs, hostname.
func machineIdentity(root host.Root) seed.Identity {
	si := remote.GatherSysInfo(root)
	id := seed.Identity{Serial: si.DMI.System["serial"], UUID: si.DMI.System["uuid"], MACs: si.MACs()}
	if b, err := root.ReadFile("/etc/hostname"); err == nil {
		id.Hostname = strings.TrimSpace(string(b))
	}
	return id
}
