// Package etchosts computes the managed /etc/hosts entry that maps the
// seed's host name and FQDN to the management address. The host and
// network modules both write it: the engine reruns a module only when its
// own section changes, so a new management address reaches /etc/hosts
// through the network module, and a new host name through the host module.
package etchosts

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/internal/files"
	"github.com/phoenix-pve/phoenix/seed"
)

// File is the hosts file (in-root).
const File = "/etc/hosts"

// hostsBlock is the managed block id in /etc/hosts.
const hostsBlock = "host"

// Entry is /etc/hosts as the seed wants it: the FQDN and host name
// mapped to the management address. It is nil when the seed has no host
// name or no management address.
func Entry(r host.Root, s *seed.Seed) (*files.File, error) {
	if s.Host == nil || s.Host.Hostname == "" {
		return nil, nil
	}
	h := s.Host
	full, err := FQDN(h)
	if err != nil {
		return nil, err
	}
	ip, err := managementIP(s)
	if err != nil || !ip.IsValid() {
		return nil, err
	}
	data, err := hostsContent(r, ip, full, h.Hostname)
	if err != nil {
		return nil, err
	}
	mode := fs.FileMode(0o644)
	if fi, err := r.Stat(File); err == nil {
		mode = fi.Mode().Perm()
	}
	return &files.File{Path: File, Data: data, Mode: mode, Why: "map " + full + " to " + ip.String()}, nil
}

// FQDN checks the host name and domain against the seed's rules and
// returns the FQDN (the host name alone without a domain).
func FQDN(h *seed.Host) (string, error) {
	if !seed.IsHostname(h.Hostname) {
		return "", fmt.Errorf("hostname %q is not a valid host name (letters, digits, '-', at most 63)", h.Hostname)
	}
	if h.Domain != "" && !seed.IsDomain(h.Domain) {
		return "", fmt.Errorf("domain %q is not a valid domain name", h.Domain)
	}
	return h.FQDN(), nil
}

// managementIP is the address of seed network.management.address, or the
// zero Addr when the seed has none (DHCP, or no network section).
func managementIP(s *seed.Seed) (netip.Addr, error) {
	if s.Network == nil || s.Network.Management.Address == "" {
		return netip.Addr{}, nil
	}
	pfx, err := netip.ParsePrefix(s.Network.Management.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("network.management.address: %w", err)
	}
	return pfx.Addr(), nil
}

// hostsContent is /etc/hosts with the managed block mapping the names to
// ip, and any other line that maps one of those names (an old address) or
// 127.0.1.1 (the Debian installer's) commented out: the resolver returns
// the first match, so a stale line would win over the block.
func hostsContent(r host.Root, ip netip.Addr, names ...string) ([]byte, error) {
	old, err := r.ReadFile(File)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	stripped, err := host.SetBlock(old, hostsBlock, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(stripped), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		// 127.0.1.1 is the Debian installer's stand-in for a host without
		// a static address; it has no other use, so it goes too.
		stale := len(f) >= 2 && f[0] != ip.String() && (f[0] == "127.0.1.1" || hasAny(f[1:], names))
		if stale && !isLocalhostLine(f) {
			line = "#phoenix# " + line
		}
		out.WriteString(line)
	}
	block := fmt.Sprintf("%s\t%s\n", ip, strings.Join(dedup(names), " "))
	res, err := host.SetBlock(out.Bytes(), hostsBlock, []byte(block))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	return res, nil
}

// isLocalhostLine keeps "127.0.0.1 localhost" and "::1 localhost ..." even
// if someone added the host name to them: commenting them out would lose
// localhost.
func isLocalhostLine(f []string) bool {
	for _, n := range f[1:] {
		if n == "localhost" || strings.HasPrefix(n, "ip6-") {
			return true
		}
	}
	return false
}

func hasAny(fields, names []string) bool {
	for _, f := range fields {
		for _, n := range names {
			if strings.EqualFold(f, n) {
				return true
			}
		}
	}
	return false
}

func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}
