package seed

// This file is the top of seed format v1. Each section has a file of its
// own (host.go, network.go, ..., lxc.go) holding its types (every key a
// seed may hold is a field; the yaml/json tags are the keys), its rules
// (the section type's check method) and the queries derived from it; the
// section table (sections.go) is derived from the Seed struct below. validate.go is the checker the rules report through, check.go
// the value syntaxes they share, schema.json the JSON Schema, and
// docs/seed.md documents every key. Keep them in step: tests compare them.

import "gopkg.in/yaml.v3"

// Version is the only seed format version this build understands.
const Version = 1

// Seed is a whole seed file. Every section is optional and maps one-to-one to
// a module of the same name.
type Seed struct {
	Version  int       `yaml:"version" json:"version"`
	Host     *Host     `yaml:"host,omitempty" json:"host,omitempty"`
	Network  *Network  `yaml:"network,omitempty" json:"network,omitempty"`
	Cluster  *Cluster  `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	Repos    *Repos    `yaml:"repos,omitempty" json:"repos,omitempty"`
	Kernel   *Kernel   `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	NVIDIA   *NVIDIA   `yaml:"nvidia,omitempty" json:"nvidia,omitempty"`
	ZFS      *ZFS      `yaml:"zfs,omitempty" json:"zfs,omitempty"`
	Users    Users     `yaml:"users,omitempty" json:"users,omitempty"`
	NFS      *NFS      `yaml:"nfs,omitempty" json:"nfs,omitempty"`
	Samba    *Samba    `yaml:"samba,omitempty" json:"samba,omitempty"`
	Firewall *Firewall `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	LXC      *LXC      `yaml:"lxc,omitempty" json:"lxc,omitempty"`
	// Report is not a module: where the run's outcome is posted.
	Report *Webhook `yaml:"report,omitempty" json:"report,omitempty"`
	// Hosts are per-machine overlays (hosts.go); HostsRequired refuses a
	// machine no entry matches instead of giving it the base seed.
	Hosts         []HostEntry `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	HostsRequired bool        `yaml:"hosts_required,omitempty" json:"hosts_required,omitempty"`

	base *yaml.Node // the root node without hosts, for Render
}

// metaKeys are the top-level keys that are not module sections.
var metaKeys = []string{"version", "report", "hosts", "hosts_required"}
