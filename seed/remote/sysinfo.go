package remote

import (
	"bufio"
	"bytes"
	"path"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// SchemaVersion is the version of the request body sent here. The body is
// modelled on the automated installer's answer request (pve-installer
// proxmox-fetch-answer/src/fetch_plugins/http.rs get_answer: AnswerFetchData
// {schema, sysinfo}); its schema type lives in proxmox-installer-types,
// which was not read, so the version is Phoenix's own.
const SchemaVersion = "1.0"

// Body is the JSON an answer server receives.
type Body struct {
	Schema  Schema  `json:"schema"`
	SysInfo SysInfo `json:"sysinfo"`
	Phoenix Phoenix `json:"phoenix"`
}

// Schema names the body's format version.
type Schema struct {
	Version string `json:"version"`
}

// SysInfo follows the installer's SystemInfo: network_interfaces and dmi.
// The installer's product and iso fields describe the ISO and are left out.
type SysInfo struct {
	NetworkInterfaces []NIC `json:"network_interfaces"`
	DMI               DMI   `json:"dmi"`
}

// NIC is one network interface: its name and MAC.
type NIC struct {
	Link string `json:"link"`
	MAC  string `json:"mac"`
}

// DMI holds the identifiers the installer sends (proxmox-installer-common
// src/dmi.rs get): the file name after its first '_' is the key.
type DMI struct {
	System    map[string]string `json:"system"`
	Baseboard map[string]string `json:"baseboard"`
	Chassis   map[string]string `json:"chassis"`
}

// Phoenix is what Phoenix adds: which build asks, on which PVE, and which
// seed it applied last.
type Phoenix struct {
	Version    string `json:"version"`
	PVEVersion string `json:"pve_version,omitempty"`
	MachineID  string `json:"machine_id,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	SeedDigest string `json:"seed_digest,omitempty"`
}

// dmiDir is read through the Root; /sys/class/dmi/id links to the
// installer's /sys/devices/virtual/dmi/id.
const dmiDir = "/sys/class/dmi/id"

// The files read, per group, as in dmi.rs.
var (
	dmiSystem    = []string{"product_serial", "product_sku", "product_uuid", "product_name"}
	dmiBaseboard = []string{"board_asset_tag", "board_serial", "board_name"}
	dmiChassis   = []string{"chassis_serial", "chassis_sku", "chassis_asset_tag"}
)

// GatherSysInfo reads DMI identifiers and the physical network interfaces.
// Missing files are left out, as the installer does.
func GatherSysInfo(r host.Root) SysInfo {
	return SysInfo{
		NetworkInterfaces: nics(r),
		DMI: DMI{
			System:    dmiGroup(r, dmiSystem),
			Baseboard: dmiGroup(r, dmiBaseboard),
			Chassis:   dmiGroup(r, dmiChassis),
		},
	}
}

func dmiGroup(r host.Root, files []string) map[string]string {
	m := map[string]string{}
	for _, f := range files {
		b, err := r.ReadFile(path.Join(dmiDir, f))
		if err != nil {
			continue
		}
		_, key, _ := strings.Cut(f, "_")
		m[key] = strings.TrimSpace(string(b))
	}
	return m
}

// nics lists interfaces backed by a device (/sys/class/net/X/device), by
// name. The installer lists every link but lo from `ip -j link`; on an
// installed Proxmox host that would add bridges, bonds, taps and veths, so
// only hardware (and virtio) NICs are sent. A bond slave shows the bond's
// MAC here; its permanent address would need ethtool and is not read.
func nics(r host.Root) []NIC {
	const class = "/sys/class/net"
	ents, err := r.ReadDir(class)
	if err != nil {
		return []NIC{}
	}
	out := []NIC{}
	for _, e := range ents {
		name := e.Name()
		if name == "lo" || !host.Exists(r, path.Join(class, name, "device")) {
			continue
		}
		b, err := r.ReadFile(path.Join(class, name, "address"))
		if err != nil {
			continue
		}
		mac := strings.ToLower(strings.TrimSpace(string(b)))
		if mac == "" || mac == "00:00:00:00:00:00" {
			continue
		}
		out = append(out, NIC{Link: name, MAC: mac})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Link < out[j].Link })
	return out
}

// MACs returns every MAC of the host's NICs.
func (s SysInfo) MACs() []string {
	var out []string
	for _, n := range s.NetworkInterfaces {
		out = append(out, n.MAC)
	}
	return out
}

// GatherPhoenix fills the host parts of the phoenix object: PVE version
// (pve-manager in the dpkg status file), machine id and hostname.
func GatherPhoenix(r host.Root, version, seedDigest string) Phoenix {
	p := Phoenix{Version: version, SeedDigest: seedDigest}
	if b, err := r.ReadFile("/etc/machine-id"); err == nil {
		p.MachineID = strings.TrimSpace(string(b))
	}
	if b, err := r.ReadFile("/etc/hostname"); err == nil {
		p.Hostname = strings.TrimSpace(string(b))
	}
	if b, err := r.ReadFile("/var/lib/dpkg/status"); err == nil {
		p.PVEVersion = dpkgVersion(b, "pve-manager")
	}
	return p
}

// dpkgVersion finds the Version of an installed package in dpkg's status
// file (deb822 stanzas: Package, Status, Version).
func dpkgVersion(status []byte, pkg string) string {
	sc := bufio.NewScanner(bytes.NewReader(status))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var name, ver string
	installed := false
	flush := func() string {
		if name == pkg && installed {
			return ver
		}
		return ""
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if v := flush(); v != "" {
				return v
			}
			name, ver, installed = "", "", false
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			name = v
		case "Version":
			ver = v
		case "Status":
			installed = strings.HasSuffix(v, " installed")
		}
	}
	return flush()
}
