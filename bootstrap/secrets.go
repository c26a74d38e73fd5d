package bootstrap

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed"
)

// Secrets lists the secret values of a seed: user password hashes and
// Samba NT hashes. The engine redacts them from everything it logs or
// records, whatever a module or a tool does with them.
func Secrets(s *seed.Seed) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, u := range s.Users {
		out = append(out, u.PasswordHash)
	}
	if s.Samba != nil {
		for _, u := range s.Samba.Users {
			out = append(out, u.NTHash)
		}
	}
	return out
}

// FileSecrets reads the password files a seed names (Samba users'
// password_file: absolute paths inside root, relative ones in the bundle
// directory), so their contents are redacted too. Unreadable files are
// skipped: the module reports those.
func FileSecrets(s *seed.Seed, r host.Root, bundle string) []string {
	if s == nil {
		return nil
	}
	var out []string
	// The cluster join password goes to pvecm on stdin; redact it anyway.
	if s.Cluster != nil && s.Cluster.Join != nil && s.Cluster.Join.PasswordFile != "" {
		if b, err := r.ReadFile(s.Cluster.Join.PasswordFile); err == nil {
			if pw, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(pw) != "" {
				out = append(out, strings.TrimSuffix(pw, "\r"))
			}
		}
	}
	if s.Samba == nil {
		return out
	}
	for _, u := range s.Samba.Users {
		var b []byte
		var err error
		switch {
		case u.PasswordFile == "":
			continue
		case path.IsAbs(u.PasswordFile):
			b, err = r.ReadFile(u.PasswordFile)
		case bundle != "":
			b, err = os.ReadFile(filepath.Join(bundle, filepath.FromSlash(path.Clean("/"+u.PasswordFile))))
		default:
			continue
		}
		if err == nil {
			out = append(out, strings.TrimRight(string(b), "\r\n"))
		}
	}
	return out
}

// NewRedactor returns a redactor for the secrets of s.
func NewRedactor(s *seed.Seed) *host.Redactor { return host.NewRedactor(Secrets(s)...) }
