package seed

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Syntax checks shared by the validator. Regular expressions compile on
// first use, not at package init: the seed package loads at every boot.

type lazyRE struct {
	once sync.Once
	expr string
	re   *regexp.Regexp
}

func re(expr string) *lazyRE { return &lazyRE{expr: expr} }

func (l *lazyRE) match(s string) bool {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re.MatchString(s)
}

var (
	reLabel     = re(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	reTimezone  = re(`^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$`)
	reBridge    = re(`^vmbr[0-9]{1,4}$`)
	reIface     = re(`^[A-Za-z0-9_.-]{1,15}$`)
	reVIDs      = re(`^[0-9]{1,4}(-[0-9]{1,4})?( [0-9]{1,4}(-[0-9]{1,4})?)*$`)
	rePackage   = re(`^[a-z0-9][a-z0-9+.-]+$`)
	reKmod      = re(`^[A-Za-z0-9_-]+$`)
	reCmdline   = re(`^[^\s"'\\]+$`)
	reDriver    = re(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	reSHA256    = re(`^[0-9a-f]{64}$`)
	reSize      = re(`^[1-9][0-9]*[KMGT]?$`)
	rePool      = re(`^[A-Za-z][A-Za-z0-9_.:-]{0,254}$`)
	reDSPart    = re(`^[A-Za-z0-9_.:-]+$`)
	reZProp     = re(`^[a-z0-9_.:@-]+$`)
	reByID      = re(`^/dev/disk/by-id/[A-Za-z0-9._:+@-]+$`)
	reStorageID = re(`^[a-z][a-z0-9._-]*[a-z0-9]$`)
	reUser      = re(`^[a-z_][a-z0-9_-]{0,31}$`)
	reOwner     = re(`^([a-z_][a-z0-9_-]{0,31}|[0-9]+)(:([a-z_][a-z0-9_-]{0,31}|[0-9]+))?$`)
	reMode      = re(`^[0-7]{3,4}$`)
	reAbsPath   = re(`^/[^\s\x00-\x1f:]*$`)
	reRealm     = re(`^[A-Za-z][A-Za-z0-9._-]*$`)
	reRole      = re(`^[A-Za-z0-9_.-]+$`)
	reACLPath   = re(`^/[A-Za-z0-9/_.-]*$`)
	reNTHash    = re(`^[0-9A-Fa-f]{32}$`)
	reWorkgroup = re(`^[A-Za-z0-9_.!-]{1,15}$`)
	reShare     = re(`^[A-Za-z0-9_.$ -]{1,80}$`)
	reSmbKey    = re(`^[A-Za-z0-9][A-Za-z0-9 :_.-]*$`)
	reRelPath   = re(`^(\.\.[^/\\\x00-\x1f]+|\.?[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.)(/(\.\.[^/\\\x00-\x1f]+|\.?[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.))*$`)
	reURL       = re(`^https?://[^\s/?#@]+([/?#]\S*)?$`)
	reInterval  = re(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)
	reNFSSec    = re(`^(sys|krb5|krb5i|krb5p)(:(sys|krb5|krb5i|krb5p))*$`)
	reNFSHost   = re(`^(\*|@[A-Za-z0-9_.-]+|[A-Za-z0-9*?_.-]+)$`)
	reDport     = re(`^[0-9]{1,5}(:[0-9]{1,5})?(,[0-9]{1,5}(:[0-9]{1,5})?)*$`)
	reTemplate  = re(`^([a-z][a-z0-9._-]*[a-z0-9]):vztmpl/([^/\s]+)$`)
	reSnapshot  = re(`^[A-Za-z][A-Za-z0-9_-]{1,39}$`)
	reTag       = re(`^[a-z0-9_][a-z0-9_+.-]*$`)
	reNetName   = re(`^eth[0-9]{1,2}$`)
	reMAC       = re(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`)
	reLocale    = re(`^[A-Za-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@[a-z]+)?$`)
	reYescrypt  = re(`^\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}$`)
	reSHA512    = re(`^\$6\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$`)
	reSHA256c   = re(`^\$5\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}$`)
)

func (l *lazyRE) find(s string) []string {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re.FindStringSubmatch(s)
}

// hostname is one DNS label (the host part; the domain is separate).
func hostname(s string) bool { return reLabel.match(s) }

// domain is a DNS name of one or more labels.
func domain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !reLabel.match(l) {
			return false
		}
	}
	return true
}

// hostOrIP is a DNS name or an IP address (NTP servers, proxies).
func hostOrIP(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return domain(s)
}

func ip(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// hostCIDR is an interface address with its prefix length (10.0.0.5/24).
func hostCIDR(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	return p, err == nil
}

// cryptHash reports whether s is a crypt(3) hash Phoenix accepts, or a
// locked marker ("!" or "*", or "!" in front of a hash).
func cryptHash(s string) bool {
	if s == "!" || s == "*" {
		return true
	}
	s = strings.TrimPrefix(s, "!")
	return reYescrypt.match(s) || reSHA512.match(s) || reSHA256c.match(s)
}

var sshKeyTypes = map[string]bool{
	"ssh-ed25519": true, "ssh-rsa": true, "ssh-dss": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
	"sk-ssh-ed25519@openssh.com": true, "sk-ecdsa-sha2-nistp256@openssh.com": true,
}

// sshKey checks an authorized_keys line: [options] type base64 [comment].
// The blob must decode and name the same type it is declared as. It
// returns "" when fine, or what is wrong.
func sshKey(line string) string {
	if strings.ContainsAny(line, "\r\n") {
		return "one key per list item: it must not contain a line break"
	}
	f := strings.Fields(line)
	i := 0
	for i < len(f) && !sshKeyTypes[f[i]] {
		i++
	}
	if i == len(f) {
		return "not an SSH public key: expected \"TYPE BASE64 [comment]\" with TYPE one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ..."
	}
	if i > 1 {
		return "not an SSH public key: unexpected text before the key type"
	}
	if i+1 >= len(f) {
		return "SSH key has no key data after " + f[i]
	}
	blob, err := base64.StdEncoding.DecodeString(f[i+1])
	if err != nil {
		return "SSH key data is not valid base64"
	}
	if len(blob) < 4 {
		return "SSH key data is truncated"
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || !bytes.Equal(blob[4:4+n], []byte(f[i])) {
		return "SSH key data does not match its type " + f[i]
	}
	return ""
}

// relPath is a file on the seed volume: relative, no "..", no odd bytes.
func relPath(s string) bool { return reRelPath.match(s) }

// httpURL is an http or https URL with a host.
func httpURL(s string) bool {
	if !reURL.match(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Host != ""
}

// plain is free text that ends up in a config file line: no control
// characters (a newline would inject a line into smb.conf or exports).
func plain(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
