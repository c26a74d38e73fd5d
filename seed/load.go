package seed

// Provisional loader: the strict loader with line:col reports replaces this.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Sections are the top-level seed keys that map to modules, in module order.
var Sections = []string{"host", "network", "repos", "kernel", "nvidia", "zfs", "users", "nfs", "samba", "firewall", "lxc"}

// LoadFile reads and validates a seed file.
func LoadFile(path string) (*Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return Load(filepath.Base(path), data)
}

// Load parses and validates seed bytes; name is used in error positions and
// picks JSON for names ending in .json.
func Load(name string, data []byte) (*Seed, error) {
	var s Seed
	var err error
	if strings.HasSuffix(name, ".json") {
		err = json.Unmarshal(data, &s)
	} else {
		err = yaml.Unmarshal(data, &s)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if s.Version != Version {
		return nil, fmt.Errorf("%s: unsupported seed version %d (supported: 1)", name, s.Version)
	}
	return &s, nil
}

// SectionDigest is a stable digest of one section ("sha256:hex"); an absent
// section digests to "".
func SectionDigest(s *Seed, section string) string {
	b, _ := json.Marshal(s)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	raw, ok := m[section]
	if !ok {
		return ""
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
