package pvecontract

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Named formats (PVE::JSONSchema::register_format) that the contract
// references by name. Each is a port of the verifier cited; a format not
// listed here is not checked, because its verifier was not ported (the
// real tool would check it).
var (
	// pve-common src/PVE/JSONSchema.pm:30 $CONFIGID_RE.
	reConfigID = regexp.MustCompile(`(?i)^[a-z][a-z0-9_-]+$`)
	// JSONSchema.pm:292-305 parse_id (storage IDs); pve-storage
	// src/PVE/Storage/Plugin.pm:423 parse_volume_id uses the same ID.
	reID     = regexp.MustCompile(`(?i)^[a-z][a-z0-9\-_.]*[a-z0-9]$`)
	reVolID  = regexp.MustCompile(`(?i)^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$`)
	reVMID   = regexp.MustCompile(`^[1-9][0-9]{2,8}$`)                                                                         // JSONSchema.pm:312
	reNode   = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`)                                               // JSONSchema.pm:350
	reDNS    = regexp.MustCompile(`^(([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`) // JSONSchema.pm:675-684
	reMAC    = regexp.MustCompile(`(?i)^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$`)                                               // JSONSchema.pm:459
	reIface  = regexp.MustCompile(`(?i)^[a-z][a-z0-9_]{1,20}([:.]\d+)?$`)                                                      // JSONSchema.pm:713
	reTag    = regexp.MustCompile(`(?i)^[a-z0-9_][a-z0-9_\-+.]*$`)                                                             // JSONSchema.pm:890-900
	reSize   = regexp.MustCompile(`^(\d+(\.\d+)?)([KMGT](?:iB)?)?$`)                                                           // JSONSchema.pm:1022-1040 parse_size
	reBridge = regexp.MustCompile(`^[-_.\w\d]+$`)                                                                              // JSONSchema.pm:275
	// pve-access-control src/PVE/Auth/Plugin.pm:34-36.
	reUser  = regexp.MustCompile(`^([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+)$`)
	reGroup = regexp.MustCompile(`^[A-Za-z0-9.\-_]+$`)
	reRole  = regexp.MustCompile(`^[A-Za-z0-9.\-_]+$`) // AccessControl.pm:1340
	rePool  = regexp.MustCompile(`^[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}$`)
	// pve-storage src/PVE/Storage/Plugin.pm:309 verify_path.
	reStoragePath = regexp.MustCompile(`^/[^;()]+`)
)

// storageContent is pve-storage's content types: valid_content_types('dir')
// (src/PVE/Storage/DirPlugin.pm:27-37) plus 'import' (Plugin.pm:370-384
// verify_content).
var storageContent = map[string]bool{"images": true, "rootdir": true, "vztmpl": true, "iso": true, "backup": true, "snippets": true, "none": true, "import": true}

type verifier func(string) string

var formats = map[string]verifier{
	"pve-configid": func(v string) string {
		if !reConfigID.MatchString(v) {
			return "invalid configuration ID '" + v + "'"
		}
		return ""
	},
	"pve-storage-id": func(v string) string {
		if len(v) < 2 {
			return "storage ID '" + v + "' cannot be shorter than 2 characters"
		}
		if !reID.MatchString(v) {
			return "storage ID '" + v + "' contains illegal characters"
		}
		return ""
	},
	"pve-volume-id": func(v string) string {
		if !reVolID.MatchString(v) {
			return "unable to parse volume ID '" + v + "'"
		}
		return ""
	},
	"pve-vmid": match(reVMID, "value does not look like a valid VM ID"),
	"pve-node": match(reNode, "value does not look like a valid node name"),
	"dns-name": match(reDNS, "value does not look like a valid DNS name"),
	"mac-addr": match(reMAC, "value does not look like a valid unicast MAC address"),
	"pve-tag":  match(reTag, "invalid characters in tag"),
	"pve-iface": func(v string) string {
		if !reIface.MatchString(v) {
			return "invalid network interface name '" + v + "'"
		}
		return ""
	},
	"pve-bridge-id": func(v string) string {
		if !reBridge.MatchString(v) {
			return "invalid bridge ID '" + v + "'"
		}
		return ""
	},
	"ipv4": func(v string) string {
		if !isIPv4(v) {
			return "value does not look like a valid IPv4 address"
		}
		return ""
	},
	"ipv6": func(v string) string {
		if !isIPv6(v) {
			return "value does not look like a valid IPv6 address"
		}
		return ""
	},
	"ip": func(v string) string {
		if !isIPv4(v) && !isIPv6(v) {
			return "value does not look like a valid IP address"
		}
		return ""
	},
	"address": func(v string) string { // JSONSchema.pm:757-765
		if !isIPv4(v) && !isIPv6(v) && !reDNS.MatchString(v) {
			return "value does not look like a valid address: " + v
		}
		return ""
	},
	"CIDRv4": func(v string) string {
		if !cidr(v, true) {
			return "value does not look like a valid IPv4 CIDR network"
		}
		return ""
	},
	"CIDRv6": func(v string) string {
		if !cidr(v, false) {
			return "value does not look like a valid IPv6 CIDR network"
		}
		return ""
	},
	// JSONSchema.pm:624-644.
	"pve-ipv4-config": func(v string) string {
		if v == "dhcp" || v == "manual" || cidr(v, true) {
			return ""
		}
		return "value does not look like a valid ipv4 network configuration"
	},
	"pve-ipv6-config": func(v string) string {
		if v == "auto" || v == "dhcp" || v == "manual" || cidr(v, false) {
			return ""
		}
		return "value does not look like a valid ipv6 network configuration"
	},
	"disk-size": func(v string) string {
		if !reSize.MatchString(v) {
			return "value does not look like a valid disk size: " + v
		}
		return ""
	},
	// JSONSchema.pm:805-813 and pve_parse_startup_order :905-925.
	"pve-startup-order": func(v string) string {
		if v == "" {
			return "unable to parse startup options"
		}
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == "" {
				continue
			}
			if !reStartup.MatchString(p) {
				return "unable to parse startup options"
			}
		}
		return ""
	},
	"pve-storage-path": match(reStoragePath, "value does not look like a valid absolute path"),
	"pve-storage-content": func(v string) string {
		if !storageContent[v] {
			return "invalid content type '" + v + "'"
		}
		return ""
	},
	// pve-container src/PVE/LXC/Config.pm:982-999.
	"pve-lxc-mp-string": func(v string) string {
		if reMPBad1.MatchString(v) || reMPBad2.MatchString(v) || strings.HasPrefix(v, "../") {
			return v + " contains illegal character sequences"
		}
		return ""
	},
	// pve-container src/PVE/LXC/Config.pm:1063-1078.
	"pve-lxc-dev-string": func(v string) string {
		if reDevBad.MatchString(v) || !strings.HasPrefix(v, "/dev/") {
			return v + " is not a valid device path"
		}
		return ""
	},
	// pve-access-control src/PVE/Auth/Plugin.pm:121-146.
	"pve-userid": func(v string) string {
		switch n := len(v); {
		case n < 3:
			return "user name '" + v + "' is too short"
		case n > 64:
			return "user name '" + v + "' is too long (" + strconv.Itoa(n) + " > 64)"
		}
		if !reUser.MatchString(v) {
			return "value '" + v + "' does not look like a valid user name"
		}
		return ""
	},
	"pve-groupid": func(v string) string { // AccessControl.pm:1323-1333
		if !reGroup.MatchString(v) {
			return "group name '" + v + "' contains invalid characters"
		}
		return ""
	},
	"pve-roleid": func(v string) string { // AccessControl.pm:1338-1348
		if !reRole.MatchString(v) {
			return "role name '" + v + "' contains invalid characters"
		}
		return ""
	},
	"pve-poolid": func(v string) string { // AccessControl.pm:1353-1369
		if len(strings.Split(v, "/")) > 3 {
			return "pool name '" + v + "' nested too deeply (max levels = 3)"
		}
		if !rePool.MatchString(v) {
			return "pool name '" + v + "' contains invalid characters"
		}
		return ""
	},
}

var (
	reStartup = regexp.MustCompile(`^((order=)?\d+|up=\d+|down=\d+)$`)
	reMPBad1  = regexp.MustCompile(`/\.\.?/`)
	reMPBad2  = regexp.MustCompile(`/\.\.?$`)
	reDevBad  = regexp.MustCompile(`/\.\.?(?:/|$)`)
)

func match(re *regexp.Regexp, msg string) verifier {
	return func(v string) string {
		if !re.MatchString(v) {
			return msg
		}
		return ""
	}
}

// isIPv4 is $IPV4RE (pve-common src/PVE/ParseUtils.pm:25-26): four
// decimal octets without leading zeros, which netip also demands.
func isIPv4(v string) bool {
	a, err := netip.ParseAddr(v)
	return err == nil && a.Is4()
}

// isIPv6 stands in for $IPV6RE (ParseUtils.pm:27-43), which has no zone.
func isIPv6(v string) bool {
	a, err := netip.ParseAddr(v)
	return err == nil && a.Is6() && a.Zone() == ""
}

// cidr is pve_verify_cidrv4/6 (JSONSchema.pm:585-606): prefix 8..32 or
// 8..128.
func cidr(v string, four bool) bool {
	addr, bits, ok := strings.Cut(v, "/")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(bits)
	if err != nil || n <= 7 {
		return false
	}
	if four {
		return isIPv4(addr) && n <= 32
	}
	return isIPv6(addr) && n <= 128
}

// checkFormat is JSONSchema.pm check_format for a named format
// (:975-1020): "NAME-list" checks each element of split_list (split on
// NUL, else on , ; and white space: pve-common ParseUtils.pm:49-58),
// "NAME-opt" checks a non-empty value.
func checkFormat(format, value string) string {
	name, kind := format, ""
	if n, ok := strings.CutSuffix(format, "-list"); ok {
		name, kind = n, "list"
	} else if n, ok := strings.CutSuffix(format, "-opt"); ok {
		name, kind = n, "opt"
	}
	v := formats[name]
	if v == nil {
		return "" // not ported: see the comment on the formats table
	}
	switch kind {
	case "list":
		for _, el := range splitList(value) {
			if msg := v(el); msg != "" {
				return msg
			}
		}
		return ""
	case "opt":
		if value == "" {
			return ""
		}
	}
	return v(value)
}

func splitList(s string) []string {
	if strings.Contains(s, "\x00") {
		return strings.Split(s, "\x00")
	}
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' })
}
