package seed

// Host is the machine's identity and clock.
type Host struct {
	Hostname string   `yaml:"hostname" json:"hostname"`
	Domain   string   `yaml:"domain,omitempty" json:"domain,omitempty"`
	Timezone string   `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	NTP      []string `yaml:"ntp,omitempty" json:"ntp,omitempty"`
}

func (c *checker) host(h *Host) {
	if c.required("host.hostname", h.Hostname) {
		c.pattern("host.hostname", h.Hostname, hostname, "a hostname (one DNS label: letters, digits, '-'; put the rest in host.domain)")
	}
	c.pattern("host.domain", h.Domain, domain, "a DNS domain")
	c.pattern("host.timezone", h.Timezone, reTimezone.match, "a timezone such as UTC or Europe/Berlin")
	for i, n := range h.NTP {
		if !hostOrIP(n) {
			c.errf(index("host.ntp", i), "%q is not a hostname or IP address", n)
		}
	}
}
