package sign

import (
	"encoding/base64"
	"fmt"
	"path"
	"strings"
	"time"
)

// Signer is one line of an allowed signers file.
type Signer struct {
	Principals  string   // comma-separated principal patterns, as written
	Namespaces  []string // namespaces="..." patterns; empty allows any
	ValidAfter  time.Time
	ValidBefore time.Time
	KeyType     string
	Key         []byte // SSH wire-format public key
	Line        int
}

// ParseAllowedSigners parses an ssh-keygen ALLOWED SIGNERS file
// (ssh-keygen(1)): "principals [options] keytype base64-key [comment]".
// cert-authority lines are skipped: certificates are not supported.
func ParseAllowedSigners(data []byte) ([]Signer, error) {
	var out []Signer
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, skip, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if skip {
			continue
		}
		s.Line = i + 1
		out = append(out, s)
	}
	return out, nil
}

func isKeyType(t string) bool {
	return strings.HasPrefix(t, "ssh-") || strings.HasPrefix(t, "ecdsa-") || strings.HasPrefix(t, "sk-")
}

func parseSignerLine(line string) (Signer, bool, error) {
	var s Signer
	principals, rest := nextField(line)
	s.Principals = principals
	field, after := nextField(rest)
	if field == "" {
		return s, false, fmt.Errorf("missing key")
	}
	if !isKeyType(field) {
		skip, err := s.parseOptions(field)
		if err != nil || skip {
			return s, skip, err
		}
		field, after = nextField(after)
	}
	s.KeyType = field
	b64, _ := nextField(after)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || b64 == "" {
		return s, false, fmt.Errorf("bad base64 key")
	}
	r := &reader{b: key}
	if t := r.str(); r.err != nil || t != s.KeyType {
		return s, false, fmt.Errorf("key type %q does not match the key", s.KeyType)
	}
	s.Key = key
	return s, false, nil
}

// nextField returns the first whitespace-separated field, honouring double
// quotes (options may hold quoted lists).
func nextField(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	inQ := false
	for i, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
		case !inQ && (r == ' ' || r == '\t'):
			return s[:i], s[i:]
		}
	}
	return s, ""
}

func (s *Signer) parseOptions(opts string) (skip bool, err error) {
	for _, o := range splitOptions(opts) {
		k, v, _ := strings.Cut(o, "=")
		v = strings.Trim(v, `"`)
		switch strings.ToLower(k) {
		case "namespaces":
			s.Namespaces = strings.Split(v, ",")
		case "cert-authority":
			return true, nil
		case "valid-after":
			if s.ValidAfter, err = parseTime(v); err != nil {
				return false, fmt.Errorf("valid-after: %w", err)
			}
		case "valid-before":
			if s.ValidBefore, err = parseTime(v); err != nil {
				return false, fmt.Errorf("valid-before: %w", err)
			}
		default:
			return false, fmt.Errorf("unknown option %q", k)
		}
	}
	return false, nil
}

func splitOptions(s string) []string {
	var out []string
	inQ, start := false, 0
	for i, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
		case r == ',' && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parseTime reads ssh-keygen's YYYYMMDD[HHMM[SS]][Z] times (local time
// unless Z).
func parseTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", v)
}

// allows checks the namespace and validity window of a signer.
func (s *Signer) allows(namespace string, now time.Time) error {
	if len(s.Namespaces) > 0 {
		ok := false
		for _, p := range s.Namespaces {
			if m, _ := path.Match(p, namespace); m {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("%w: allowed signers line %d does not allow namespace %q", ErrNamespace, s.Line, namespace)
		}
	}
	if !s.ValidAfter.IsZero() && now.Before(s.ValidAfter) {
		return fmt.Errorf("allowed signers line %d: key not valid before %s", s.Line, s.ValidAfter)
	}
	if !s.ValidBefore.IsZero() && !now.Before(s.ValidBefore) {
		return fmt.Errorf("allowed signers line %d: key expired at %s", s.Line, s.ValidBefore)
	}
	return nil
}
