package bootstrap

import (
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

// NewRedactor returns a redactor for the secrets of s.
func NewRedactor(s *seed.Seed) *host.Redactor { return host.NewRedactor(Secrets(s)...) }
