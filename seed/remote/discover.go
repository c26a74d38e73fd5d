package remote

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// SourceFile is the small file naming an answer server, in /etc/phoenix or
// at the root of a PHOENIX volume.
const SourceFile = "source.yaml"

// Discover is the URL value that asks for DHCP, then DNS discovery.
const Discover = "discover"

// ParseSource reads a source file: url, fingerprint, token_file, mode.
// Unknown keys are errors (a typo must not silently drop the pin).
func ParseSource(name string, data []byte) (Source, error) {
	var s Source
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Source{}, fmt.Errorf("%s: %w", name, err)
	}
	if s.URL == "" {
		return Source{}, fmt.Errorf("%s: url is required (an https:// URL or %q)", name, Discover)
	}
	if s.URL == Discover {
		probe := s
		probe.URL = "https://discovered.invalid/"
		if err := probe.Check(); err != nil {
			return Source{}, fmt.Errorf("%s: %w", name, err)
		}
		return s, nil
	}
	if err := s.Check(); err != nil {
		return Source{}, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Names used by discovery. The installer uses DHCP options 250/251 named
// proxmox-auto-installer-manifest-url / -cert-fingerprint and the TXT
// records proxmox-auto-installer[-cert-fingerprint].<search domain>
// (pve-installer proxmox-fetch-answer/src/fetch_plugins/http.rs). Those
// point at the installer's answer, not at a seed: a host installed that
// way boots on the same network, so Phoenix uses its own names with the
// same mechanism (docs/fleet.md suggests DHCP codes 248/249).
const (
	DHCPURLOption         = "phoenix-seed-url"
	DHCPFingerprintOption = "phoenix-seed-cert-fingerprint"
	DNSURLName            = "phoenix-seed"
	DNSFingerprintName    = "phoenix-seed-cert-fingerprint"
	dhcpLeaseDir          = "/var/lib/dhcp"
)

// Discovery finds an answer server's URL as the installer does: DHCP
// lease options first, then DNS TXT records under the search domain.
type Discovery struct {
	Root host.Root
	// LookupTXT resolves TXT records (default net.DefaultResolver).
	LookupTXT func(ctx context.Context, name string) ([]string, error)
}

// Find returns the URL and (when found) fingerprint, and a line per step.
// A fingerprint given in the source file has precedence, as in the
// installer.
func (d Discovery) Find(ctx context.Context, pinned string) (Source, []string, error) {
	var trace []string
	if url, fp, file, ok := d.dhcp(); ok {
		trace = append(trace, fmt.Sprintf("discovery: DHCP option %s in %s: %s", DHCPURLOption, file, url))
		if pinned != "" {
			fp = pinned
		}
		return Source{URL: url, Fingerprint: fp}, trace, nil
	}
	trace = append(trace, fmt.Sprintf("discovery: no %s option in %s/dhclient*.leases", DHCPURLOption, dhcpLeaseDir))
	domain, err := d.searchDomain()
	if err != nil {
		trace = append(trace, "discovery: DNS: "+err.Error())
		return Source{}, trace, fmt.Errorf("seed discovery: no DHCP option %s and %w", DHCPURLOption, err)
	}
	lookup := d.LookupTXT
	if lookup == nil {
		lookup = net.DefaultResolver.LookupTXT
	}
	name := DNSURLName + "." + domain
	url, err := txtOne(ctx, lookup, name)
	if err != nil {
		trace = append(trace, fmt.Sprintf("discovery: DNS TXT %s: %v", name, err))
		return Source{}, trace, fmt.Errorf("seed discovery: no DHCP option %s, and DNS TXT %s: %w", DHCPURLOption, name, err)
	}
	trace = append(trace, fmt.Sprintf("discovery: DNS TXT %s: %s", name, url))
	fp := pinned
	if fp == "" {
		if v, err := txtOne(ctx, lookup, DNSFingerprintName+"."+domain); err == nil {
			fp = v
			trace = append(trace, fmt.Sprintf("discovery: DNS TXT %s.%s: fingerprint", DNSFingerprintName, domain))
		}
	}
	return Source{URL: url, Fingerprint: fp}, trace, nil
}

func txtOne(ctx context.Context, lookup func(context.Context, string) ([]string, error), name string) (string, error) {
	recs, err := lookup(ctx, name)
	if err != nil {
		return "", err
	}
	var vals []string
	for _, r := range recs {
		if v := strings.TrimSpace(strings.ReplaceAll(r, `"`, "")); v != "" {
			vals = append(vals, v)
		}
	}
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("empty TXT record")
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("%d TXT records: want one", len(vals))
}

// dhcp reads dhclient lease files (ifupdown2 on Proxmox runs dhclient) for
// the Phoenix options. dhclient appends leases, so the last one wins.
func (d Discovery) dhcp() (url, fp, file string, ok bool) {
	ents, err := d.Root.ReadDir(dhcpLeaseDir)
	if err != nil {
		return "", "", "", false
	}
	var files []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "dhclient") && strings.HasSuffix(n, ".leases") {
			files = append(files, path.Join(dhcpLeaseDir, n))
		}
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := d.Root.ReadFile(f)
		if err != nil {
			continue
		}
		u, p := ParseLeases(string(b))
		if u != "" {
			url, fp, file, ok = u, p, f, true
		}
	}
	return url, fp, file, ok
}

// ParseLeases finds the last url and fingerprint options in dhclient.leases
// text: `option phoenix-seed-url "https://...";`. The option must be
// declared in dhclient.conf (`option phoenix-seed-url code 248 = text;`
// and `also request phoenix-seed-url;`), as the installer documents for its
// own options; undeclared options are not parsed here.
func ParseLeases(text string) (url, fp string) {
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "option ")
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, " ")
		if !ok {
			continue
		}
		val = strings.TrimSuffix(strings.TrimSpace(val), ";")
		val = strings.TrimSuffix(strings.TrimPrefix(val, `"`), `"`)
		switch name {
		case DHCPURLOption:
			url = val
		case DHCPFingerprintOption:
			fp = val
		}
	}
	return url, fp
}

// searchDomain is the first search domain of /etc/resolv.conf (the
// installer's get_search_domain takes the search line too).
func (d Discovery) searchDomain() (string, error) {
	b, err := d.Root.ReadFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no search domain: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "search" || f[0] == "domain") {
			return strings.TrimSuffix(f[1], "."), nil
		}
	}
	return "", fmt.Errorf("no search domain in /etc/resolv.conf")
}
