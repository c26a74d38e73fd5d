package source

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// A signature covers a manifest, not seed.yaml alone: the manifest names
// the seed's digest and the digest of every file the seed pulls from its
// volume (scripts, the NVIDIA runfile, Samba password files, templates),
// plus a serial. `phoenix seed sign` writes it as seed.yaml.manifest next
// to the seed and signs it into seed.yaml.sig. So a signed seed copied onto
// another stick with other scripts beside it is refused (the bundle file
// does not match), and an older signed seed is refused once a newer serial
// was accepted (replay).
//
//	phoenix-seed-manifest v1
//	serial 1764582000
//	seed sha256:<hex>
//	file sha256:<hex> scripts/setup.sh
const (
	ManifestSuffix = ".manifest"
	manifestHeader = "phoenix-seed-manifest v1"
	// SerialFile records the highest manifest serial accepted on this
	// host (with its manifest's digest). It lives with the engine's state
	// but `phoenix clean` never removes it.
	SerialFile = "/var/lib/phoenix/seed-serial.json"
	// maxManifest bounds a manifest read from a volume.
	maxManifest = 1 << 20
)

// ErrReplay is wrapped by the refusal of a signed seed whose serial is
// older than the last one accepted.
var ErrReplay = errors.New("signed seed is older than the last one accepted")

// ErrBundleMismatch is wrapped when a bundle file is missing from the
// signed manifest or differs from it.
var ErrBundleMismatch = errors.New("bundle file does not match the signed manifest")

// Manifest is a parsed seed manifest.
type Manifest struct {
	Serial uint64
	Seed   string            // "sha256:HEX" of the seed file
	Files  map[string]string // seed-relative path -> "sha256:HEX"
	// Digest is "sha256:HEX" of the manifest text itself.
	Digest string
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func validSum(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// ParseManifest reads a manifest strictly: the header, one serial, one
// seed line, file lines with clean seed-relative paths and no duplicates.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifest {
		return nil, fmt.Errorf("manifest: %d bytes: larger than %d", len(data), maxManifest)
	}
	m := &Manifest{Files: map[string]string{}, Digest: sumHex(data)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxManifest)
	n := 0
	haveSerial := false
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			if line != manifestHeader {
				return nil, fmt.Errorf("manifest: line 1: want %q", manifestHeader)
			}
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "serial" && !haveSerial:
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil || v == 0 || (len(f[1]) > 1 && f[1][0] == '0') {
				return nil, fmt.Errorf("manifest: line %d: serial %q: want a positive decimal number", n, f[1])
			}
			m.Serial, haveSerial = v, true
		case len(f) == 2 && f[0] == "seed" && m.Seed == "":
			if !validSum(f[1]) {
				return nil, fmt.Errorf("manifest: line %d: bad digest %q", n, f[1])
			}
			m.Seed = f[1]
		case len(f) == 3 && f[0] == "file":
			if !validSum(f[1]) {
				return nil, fmt.Errorf("manifest: line %d: bad digest %q", n, f[1])
			}
			c, err := CleanRel(f[2])
			if err != nil || c != f[2] {
				return nil, fmt.Errorf("manifest: line %d: path %q: want a clean seed-relative path", n, f[2])
			}
			if _, dup := m.Files[c]; dup {
				return nil, fmt.Errorf("manifest: line %d: %s listed twice", n, c)
			}
			m.Files[c] = f[1]
		default:
			return nil, fmt.Errorf("manifest: line %d: unexpected %q", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !haveSerial || m.Seed == "" {
		return nil, errors.New("manifest: needs a serial and a seed line")
	}
	return m, nil
}

// BuildManifest writes the manifest of a seed and the files it refers to,
// read from bundle.
func BuildManifest(seedData []byte, serial uint64, b Bundle, refs []string) ([]byte, error) {
	var buf strings.Builder
	fmt.Fprintf(&buf, "%s\nserial %d\nseed %s\n", manifestHeader, serial, sumHex(seedData))
	sorted := append([]string(nil), refs...)
	sort.Strings(sorted)
	seen := map[string]bool{}
	for _, r := range sorted {
		c, err := CleanRel(r)
		if err != nil {
			return nil, err
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		rc, err := b.Open(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		fmt.Fprintf(&buf, "file sha256:%s %s\n", hex.EncodeToString(h.Sum(nil)), c)
	}
	return []byte(buf.String()), nil
}

// CheckSeed checks that data is the seed the manifest names.
func (m *Manifest) CheckSeed(data []byte) error {
	if got := sumHex(data); got != m.Seed {
		return fmt.Errorf("seed file is %s, the signed manifest says %s: %w", got, m.Seed, ErrBundleMismatch)
	}
	return nil
}

// CheckFile checks one bundle file's digest; the error names the file.
func (m *Manifest) CheckFile(rel, sum string) error {
	want, ok := m.Files[rel]
	switch {
	case !ok:
		return fmt.Errorf("%s: not listed in the signed manifest: %w", rel, ErrBundleMismatch)
	case want != sum:
		return fmt.Errorf("%s: is %s, the signed manifest says %s: %w", rel, sum, want, ErrBundleMismatch)
	}
	return nil
}

// CheckBundle hashes every referenced file in b against the manifest.
func (m *Manifest) CheckBundle(b Bundle, refs []string) error {
	for _, r := range refs {
		c, err := CleanRel(r)
		if err != nil {
			return err
		}
		rc, err := b.Open(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		if err := m.CheckFile(c, "sha256:"+hex.EncodeToString(h.Sum(nil))); err != nil {
			return err
		}
	}
	return nil
}

// serialRecord is SerialFile's content.
type serialRecord struct {
	Serial   uint64 `json:"serial"`
	Manifest string `json:"manifest"` // digest of the manifest accepted with it
	Signer   string `json:"signer,omitempty"`
}

func readSerial(r host.Root) (serialRecord, bool, error) {
	var rec serialRecord
	b, err := r.ReadFile(SerialFile)
	if isNotExist(err) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("%s: %w", SerialFile, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("%s: %w", SerialFile, err)
	}
	return rec, true, nil
}

// checkSerial refuses a manifest older than the one last accepted, and the
// same serial on a different manifest.
func checkSerial(r host.Root, m *Manifest) error {
	rec, ok, err := readSerial(r)
	if err != nil || !ok {
		return err
	}
	switch {
	case m.Serial < rec.Serial:
		return fmt.Errorf("serial %d, but serial %d was accepted already: %w (sign the seed again: `phoenix seed sign` picks a newer serial)", m.Serial, rec.Serial, ErrReplay)
	case m.Serial == rec.Serial && m.Digest != rec.Manifest:
		return fmt.Errorf("serial %d was accepted already for another manifest: %w", m.Serial, ErrReplay)
	}
	return nil
}

// RecordSerial remembers f's manifest serial as the newest accepted, when
// it is newer than the one recorded. Unsigned and local seeds carry none.
func (f *Found) RecordSerial(r host.Root) error {
	if f.Manifest == nil {
		return nil
	}
	rec, ok, err := readSerial(r)
	if err != nil {
		return err
	}
	if ok && rec.Serial >= f.Manifest.Serial {
		return nil
	}
	b, err := json.MarshalIndent(serialRecord{Serial: f.Manifest.Serial, Manifest: f.Manifest.Digest, Signer: f.Signer}, "", "  ")
	if err != nil {
		return err
	}
	if err := r.MkdirAll("/var/lib/phoenix", 0o700, host.Owner{}); err != nil {
		return err
	}
	return r.WriteFile(SerialFile, append(b, '\n'), 0o600, host.Owner{})
}
