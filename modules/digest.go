package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/phoenix-pve/phoenix/seed"
)

// Inputs is implemented by a module that reads seed sections besides its own
// (host reads network.management for /etc/hosts). Its marker digest then
// covers all of them, so a change to any input re-runs it.
type Inputs interface {
	Inputs() []string // other seed sections read, besides Name()
}

// Digest is the digest a module's marker records: the digest of its own
// section, or, for a module with Inputs, of its section and its inputs.
func Digest(m Module, s *seed.Seed) string {
	own := seed.SectionDigest(s, m.Name())
	in, ok := m.(Inputs)
	if !ok || own == "" {
		return own
	}
	var b strings.Builder
	b.WriteString(m.Name() + "=" + own + "\n")
	for _, sec := range in.Inputs() {
		b.WriteString(sec + "=" + seed.SectionDigest(s, sec) + "\n")
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}
