package seed

import "strings"

// Host is the machine's identity and clock.
type Host struct {
	Hostname string   `yaml:"hostname" json:"hostname"`
	Domain   string   `yaml:"domain,omitempty" json:"domain,omitempty"`
	Timezone string   `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	NTP      []string `yaml:"ntp,omitempty" json:"ntp,omitempty"`
}

// check holds the host section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (h *Host) check(c *checker) {
	if c.required("host.hostname", h.Hostname) {
		c.pattern("host.hostname", h.Hostname, hostname, "a hostname (one DNS label: letters, digits, '-'; put the rest in host.domain)")
	}
	c.pattern("host.domain", h.Domain, domain, "a DNS domain")
	c.pattern("host.timezone", h.Timezone, reTimezone.match, "a timezone such as UTC or Europe/Berlin")
	if h.Timezone != "" && reTimezone.match(h.Timezone) && !KnownTimezone(h.Timezone) {
		c.errf("host.timezone", "%q is not in the zoneinfo database (see `timedatectl list-timezones`)", h.Timezone)
	}
	for i, n := range h.NTP {
		if !hostOrIP(n) {
			c.errf(index("host.ntp", i), "%q is not a hostname or IP address", n)
		}
	}
}

// IsHostname reports whether s is a host name as the seed takes it: one
// DNS label (letters, digits, '-', at most 63). Modules that check a name
// read from the host use it, so the rule has one home.
func IsHostname(s string) bool { return hostname(s) }

// IsDomain reports whether s is a DNS domain as host.domain takes it (one
// or more labels, an optional trailing dot).
func IsDomain(s string) bool { return domain(s) }

// IsTimezone reports whether s is a zone name as host.timezone takes it
// (UTC, or Area/Location like Europe/Berlin).
func IsTimezone(s string) bool { return timezone(s) }

// FQDN is the host name with the domain appended (without the domain's
// optional trailing dot), or the host name alone when there is no domain.
func (h *Host) FQDN() string {
	if d := strings.TrimSuffix(h.Domain, "."); d != "" {
		return h.Hostname + "." + d
	}
	return h.Hostname
}
