package seed

import (
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	// The zoneinfo database, so that host.timezone is checked against the
	// same names wherever `phoenix validate` runs (a workstation without
	// tzdata, a minimal image), not only on the host.
	_ "time/tzdata"
)

// Rules that cut across sections: values that would hide or expose system
// directories, change meaning where they land (Proxmox property strings,
// smb.conf), take over system accounts, or read differently to a person
// and to YAML. Modules call the exported predicates at apply time, so a
// rule has one home and `phoenix validate` refuses whatever a module
// would.

// systemDirs are the directories a dataset mountpoint must never hide (a
// mount at or under them shadows the system) and a share or export must
// never expose.
var systemDirs = []string{"/etc", "/usr", "/var", "/boot", "/root", "/proc", "/sys", "/dev", "/bin", "/sbin", "/lib", "/lib64", "/run"}

// exposedDirs are the trees never to export, share or bind into a
// container, whole or below: secrets (/etc, /root) and kernel interfaces.
// /usr and /var below their top are left to the admin (/var/lib/vz holds
// Proxmox's own storage), except two trees of secrets there: pmxcfs's
// database /var/lib/pve-cluster (config.db holds all of /etc/pve, private
// keys included) and Phoenix's own state /var/lib/phoenix (the bundle
// with Samba password files, the seed serial).
var exposedDirs = []string{"/etc", "/root", "/boot", "/proc", "/sys", "/dev", "/run", "/var/lib/pve-cluster", "/var/lib/phoenix"}

func inDir(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// HasDotDot reports a ".." element in a path.
func HasDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

// HidesSystemDir reports whether mounting a filesystem at p would hide
// the root or a system directory: p is /, one of them, or below one.
func HidesSystemDir(p string) bool {
	c := path.Clean(p)
	if c == "/" {
		return true
	}
	for _, d := range systemDirs {
		if inDir(c, d) {
			return true
		}
	}
	return false
}

// ExposesSystemDir reports whether sharing, exporting or binding p would
// expose the whole host or a system directory: p is /, a system directory
// itself, or below one of the secret or kernel trees.
func ExposesSystemDir(p string) bool {
	c := path.Clean(p)
	if c == "/" {
		return true
	}
	for _, d := range systemDirs {
		if c == d {
			return true
		}
	}
	for _, d := range exposedDirs {
		if inDir(c, d) {
			return true
		}
	}
	return false
}

// PropertyStringSafe reports whether v can stand as one value of a Proxmox
// property string (mp0: VOLUME,mp=PATH,...): pve-common's
// PVE::JSONSchema::parse_property_string splits on "," and then on "=",
// so either character would end the value and start another key.
func PropertyStringSafe(v string) bool { return !strings.ContainsAny(v, ",=") }

// SmbValueSafe reports whether v can be written as one smb.conf value: no
// control characters (a line break starts a new parameter), no trailing
// backslash, which Samba's parser (lib/util/params.c) takes as a line
// continuation, joining the next line into this value, and no leading or
// trailing blank, which the parser trims, and no run of two blanks, which
// the real testparm reads back as one (both found by FuzzRenderSmbConf
// with the real testparm; the line of Samba's parser that collapses the
// run was not located).
func SmbValueSafe(v string) bool {
	return plain(v) && !strings.HasSuffix(v, `\`) && strings.TrimSpace(v) == v && !strings.Contains(v, "  ")
}

// systemAccounts are the accounts of Debian's base-passwd (passwd.master,
// static UIDs 0-99 and nobody) and the ones Proxmox VE and its packages
// create (www-data runs pveproxy; backup owns vzdump files; _apt, sshd,
// messagebus, systemd-*, postfix, _chrony, ceph, statd, tss): a seed user
// of that name would take one over. Their UIDs are below 1000 on every
// Debian host; a name not listed here is checked by its UID at apply time
// (SystemUID).
var systemAccounts = map[string]bool{
	"root": true, "daemon": true, "bin": true, "sys": true, "sync": true, "games": true, "man": true,
	"lp": true, "mail": true, "news": true, "uucp": true, "proxy": true, "www-data": true, "backup": true,
	"list": true, "irc": true, "gnats": true, "nobody": true, "_apt": true, "sshd": true, "messagebus": true,
	"systemd-network": true, "systemd-resolve": true, "systemd-timesync": true, "systemd-coredump": true,
	"postfix": true, "_chrony": true, "ceph": true, "statd": true, "tss": true, "_rpc": true, "tcpdump": true,
}

// SystemAccount reports whether name is a system account Phoenix must not
// manage unless the seed says so (users[].system: true).
func SystemAccount(name string) bool { return systemAccounts[name] }

// SystemAllowed reports whether the seed lets Phoenix manage the system
// account name: a users[] entry of that name with system: true. Samba
// users (a Samba password for root is a way in as root) follow the same
// rule as users[].
func (s *Seed) SystemAllowed(name string) bool {
	if s == nil {
		return false
	}
	for _, u := range s.Users {
		if u.Name == name && u.System {
			return true
		}
	}
	return false
}

// SystemUID reports whether an existing account's UID makes it a system
// account: root, or below 1000 (Debian's adduser.conf FIRST_UID). 65534
// is nobody.
func SystemUID(uid int) bool { return uid < 1000 || uid == 65534 }

// KnownTimezone reports whether tz names a zone of the zoneinfo database
// (what timedatectl set-timezone accepts).
func KnownTimezone(tz string) bool {
	if tz == "" || tz == "Local" || strings.HasPrefix(tz, "/") || HasDotDot(tz) {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// hostAddressProblem says why addr is no usable host address in prefix p:
// the network address or the IPv4 broadcast address (not for /31 and /32,
// RFC 3021).
func hostAddressProblem(p netip.Prefix) string {
	a := p.Addr()
	bits := p.Bits()
	if !a.Is4() || bits >= 31 {
		if a.Is6() && bits < 127 && a == p.Masked().Addr() {
			return "is the subnet-router anycast address of " + p.Masked().String()
		}
		return ""
	}
	if a == p.Masked().Addr() {
		return "is the network address of " + p.Masked().String()
	}
	b := a.As4()
	host := uint32(1)<<(32-bits) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if v&host == host {
		return "is the broadcast address of " + p.Masked().String()
	}
	return ""
}

// pathCheck applies the path rules to a host path a seed gives: no ".."
// element, and never hiding or exposing a system directory. hide is set
// for mountpoints, which hide what is below them.
func (c *checker) pathCheck(at, p string, hide bool) {
	switch {
	case p == "" || !strings.HasPrefix(p, "/"):
		return
	case HasDotDot(p):
		c.errf(at, "%q has a '..' element: give the path itself", p)
	case hide && HidesSystemDir(p):
		c.errf(at, "mountpoint %q would hide %s: mount datasets outside /, /etc, /usr, /var, /boot, /root, /proc, /sys, /dev (e.g. under /srv or /tank)", p, hiddenDir(p))
	case !hide && ExposesSystemDir(p):
		c.errf(at, "%q would expose %s of the host: give a directory of its own (e.g. under /srv)", p, hiddenDir(p))
	}
}

func hiddenDir(p string) string {
	c := path.Clean(p)
	if c == "/" {
		return "the whole root filesystem"
	}
	best := ""
	for _, d := range append(slices.Clone(systemDirs), exposedDirs...) {
		if inDir(c, d) && len(d) > len(best) {
			best = d // the most precise: /var/lib/pve-cluster, not /var
		}
	}
	if best != "" {
		return best
	}
	return c
}

// cleanKey is a path as duplicates are compared: "/srv/a/" and "/srv/a"
// are the same directory.
func cleanKey(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") {
		return p
	}
	return path.Clean(p)
}

// URLCredentials reports whether a URL carries user information
// (user:password@host): that would put a password into argv, logs and
// status, so the seed refuses it. Its value is never echoed.
func URLCredentials(s string) bool {
	i := strings.Index(s, "://")
	if i < 0 {
		return false
	}
	auth := s[i+3:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	return strings.Contains(auth, "@")
}

// url checks an http(s) URL a module downloads from; what says what it
// must be. A URL with credentials is refused without echoing it.
func (c *checker) url(path, v, what string) {
	switch {
	case URLCredentials(v):
		c.errf(path, "holds credentials (user:password@ before the host); they would end up in logs, argv and status: put them in a file the tool reads (value not shown)")
	case !httpURL(v) && strings.Contains(v, "@"):
		// Not a URL, but it may hold user:password@: not echoed either.
		c.errf(path, "is not %s (value not shown: it holds an @)", what)
	case !httpURL(v):
		c.errf(path, "%q is not %s", v, what)
	}
}
