package seed

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"net/url"
	"strings"
)

// Syntax checks shared by the validator. The seed package loads at every
// boot, and compiling a regular expression costs 20-500 µs (counted
// repetitions like {0,254} the most), so plain "characters from this set,
// this long" rules are spans, checked byte by byte; the others are regular
// expressions compiled on first use, not at package init.

// charSet is a set of bytes, like a regexp character class. A set that
// takes any byte >= 0x80 (from except) takes any non-ASCII rune, as the
// negated class [^...] does; one without takes none, as an ASCII class.
type charSet [4]uint64

func (c *charSet) has(b byte) bool { return c[b>>6]&(1<<(b&63)) != 0 }

func (c *charSet) add(b int) { c[b>>6] |= 1 << (b & 63) }

// chars is the set of the bytes and ranges in spec, as written inside a
// regexp class: "A-Za-z0-9_.-" (a "-" first or last is itself).
func chars(spec string) *charSet {
	var c charSet
	for i := 0; i < len(spec); i++ {
		if i+2 < len(spec) && spec[i+1] == '-' {
			for b := int(spec[i]); b <= int(spec[i+2]); b++ {
				c.add(b)
			}
			i += 2
			continue
		}
		c.add(int(spec[i]))
	}
	return &c
}

// except is every byte not in chars(spec), like [^spec].
func except(spec string) *charSet {
	c := chars(spec)
	for i := range c {
		c[i] = ^c[i]
	}
	return c
}

var (
	alpha = chars("A-Za-z")
	alnum = chars("A-Za-z0-9")
	digit = chars("0-9")
)

// span matches prefix followed by min to max bytes (max 0: no bound)
// from rest; when set, first and last constrain the first and the last of
// those bytes. It does the job of a regexp such as
// ^prefix[first][rest]{m,n}$ without its compile time.
type span struct {
	prefix            string
	first, rest, last *charSet
	min, max          int
}

func (p span) match(s string) bool {
	s, ok := strings.CutPrefix(s, p.prefix)
	if !ok || len(s) < p.min || p.max > 0 && len(s) > p.max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := p.rest
		if i == 0 && p.first != nil {
			c = p.first
		}
		if !c.has(s[i]) {
			return false
		}
	}
	return p.last == nil || len(s) == 0 || p.last.has(s[len(s)-1])
}

var (
	reLabel    = span{first: alnum, rest: chars("A-Za-z0-9-"), last: alnum, min: 1, max: 63}
	reTimezone = rule(timezone)
	reBridge   = span{prefix: "vmbr", rest: digit, min: 1, max: 4}
	// Not "-" or "." first: the network module writes the name into
	// /etc/network/interfaces, where ifupdown2 would not read such a
	// name as an interface (and the kernel refuses "." and "..").
	reIface   = span{first: chars("A-Za-z0-9_"), rest: chars("A-Za-z0-9_.-"), min: 1, max: 15}
	reVIDs    = rule(ranges(" ", "-", 4))
	rePackage = span{first: chars("a-z0-9"), rest: chars("a-z0-9+.-"), min: 2}
	reKmod    = span{rest: chars("A-Za-z0-9_-"), min: 1}
	reCmdline = span{rest: except("\t\n\f\r \"'\\"), min: 1}
	reDriver  = rule(driver)
	reSHA256  = span{rest: chars("0-9a-f"), min: 64, max: 64}
	reSize    = rule(size)
	rePool    = span{first: alpha, rest: chars("A-Za-z0-9_.:-"), min: 1, max: 255}
	reDSPart  = span{rest: chars("A-Za-z0-9_.:-"), min: 1}
	reZProp   = span{rest: chars("a-z0-9_.:@-"), min: 1}
	reByID    = span{prefix: "/dev/disk/by-id/", rest: chars("A-Za-z0-9._:+@-"), min: 1}
	// Storage ids: pve-common src/PVE/JSONSchema.pm parse_storage_id,
	// m/^[a-z][a-z0-9\-\_\.]*[a-z0-9]$/i: case-insensitive, so ids like
	// quickOS-vm-disks (what the bash originals created) are valid.
	reStorageID = span{first: chars("A-Za-z"), rest: chars("A-Za-z0-9._-"), last: chars("A-Za-z0-9"), min: 2}
	reUser      = span{first: chars("a-z_"), rest: chars("a-z0-9_-"), min: 1, max: 32}
	reOwner     = rule(owner)
	reMode      = span{rest: chars("0-7"), min: 3, max: 4}
	reAbsPath   = span{prefix: "/", rest: except("\x00-\x1f :")}
	// Realms: pve-access-control (commit 5ccd07d) src/PVE/Auth/Plugin.pm:34
	// realm_regex [A-Za-z][A-Za-z0-9\.\-_]+ (so at least 2 characters),
	// and the realm option's maxLength 32 (Plugin.pm:50-57).
	reRealm     = span{first: alpha, rest: chars("A-Za-z0-9._-"), min: 2, max: 32}
	reRole      = span{rest: chars("A-Za-z0-9_.-"), min: 1}
	reACLPath   = span{prefix: "/", rest: chars("A-Za-z0-9/_.-")}
	reNTHash    = span{rest: chars("0-9A-Fa-f"), min: 32, max: 32}
	reWorkgroup = span{rest: chars("A-Za-z0-9_.!-"), min: 1, max: 15}
	reShare     = span{rest: chars("A-Za-z0-9_.$ -"), min: 1, max: 80}
	reSmbKey    = span{first: alnum, rest: chars("A-Za-z0-9 :_.-"), min: 1}
	reRelPath   = rule(relPath)
	reURL       = rule(urlSyntax)
	reInterval  = rule(interval)
	reNFSSec    = rule(nfsSec)
	reNFSHost   = rule(nfsHost)
	reDport     = rule(ranges(",", ":", 5))
	reSnapshot  = span{first: alpha, rest: chars("A-Za-z0-9_-"), min: 2, max: 40}
	// Tags: pve-common (commit f665029) src/PVE/JSONSchema.pm:890
	// PVE_TAG_RE [a-z0-9_][a-z0-9_\-\+\.]*/i; Phoenix keeps them lowercase.
	reTag      = span{first: chars("a-z0-9_"), rest: chars("a-z0-9_+.-"), min: 1}
	reNetName  = span{prefix: "eth", rest: digit, min: 1, max: 2}
	reMAC      = rule(mac)
	reLocale   = rule(func(s string) bool { _, ok := UTF8Locale(s); return ok })
	reYescrypt = rule(yescrypt)
	reSHA512   = rule(shaCrypt("6", 86))
	reSHA256c  = rule(shaCrypt("5", 43))
)

// rule is a hand-written check standing in for a regexp that is dear to
// compile (counted repetitions); check_test.go compares each with it.
type rule func(string) bool

func (r rule) match(s string) bool { return r(s) }

var (
	crypt64    = chars("./A-Za-z0-9")
	salt16     = span{rest: crypt64, min: 1, max: 16}
	rounds     = span{prefix: "rounds=", rest: digit, min: 1, max: 9}
	number     = span{rest: digit, min: 1}
	hexByte    = span{rest: chars("0-9A-Fa-f"), min: 2, max: 2}
	localeLang = span{rest: chars("a-z"), min: 2, max: 3}
	country    = span{rest: chars("A-Z"), min: 2, max: 2}
	pathSeg    = span{rest: except("/\\\x00-\x1f"), min: 1}
	urlHost    = span{rest: except("\t\n\f\r /?#@"), min: 1}
	noBlank    = span{rest: except("\t\n\f\r ")}
	tzArea     = span{first: chars("A-Z"), rest: chars("A-Za-z_"), min: 2}
	tzPart     = span{rest: chars("A-Za-z0-9_+-"), min: 1}
	count      = span{first: chars("1-9"), rest: digit, min: 1}
	netgroup   = span{prefix: "@", rest: chars("A-Za-z0-9_.-"), min: 1}
	// Not "-" first: nfs-utils support/nfs/exports.c reads a token after
	// the path that starts with "-" as the default options, not a client.
	hostGlob = span{first: chars("A-Za-z0-9*?_."), rest: chars("A-Za-z0-9*?_.-"), min: 1}
	uuid     = span{rest: chars("0-9A-Fa-f-"), min: 32, max: 36}
	tmplFile = span{rest: except("/\t\n\f\r "), min: 1}
)

// relPath is a file on the seed volume: relative, no "..", no odd bytes:
// segments joined by "/", none empty or "..", none holding a backslash or
// a control character.
func relPath(s string) bool {
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == ".." || !pathSeg.match(seg) {
			return false
		}
	}
	return true
}

// urlSyntax is http(s)://HOST[/?#REST]: no blank anywhere, no "@" (user
// info) in the host.
func urlSyntax(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	host, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host, tail = rest[:i], rest[i:]
	}
	return urlHost.match(host) && noBlank.match(tail)
}

// timezone is UTC or Area/City[/Sub] (Europe/Berlin).
func timezone(s string) bool {
	if s == "UTC" {
		return true
	}
	f := strings.Split(s, "/")
	if len(f) < 2 || len(f) > 3 || !tzArea.match(f[0]) {
		return false
	}
	for _, p := range f[1:] {
		if !tzPart.match(p) {
			return false
		}
	}
	return true
}

// driver is an NVIDIA driver version: N.N or N.N.N.
func driver(s string) bool {
	f := strings.Split(s, ".")
	if len(f) < 2 || len(f) > 3 {
		return false
	}
	for _, p := range f {
		if !number.match(p) {
			return false
		}
	}
	return true
}

// size is a positive integer with an optional K, M, G or T suffix.
func size(s string) bool {
	if n := len(s); n > 0 && strings.IndexByte("KMGT", s[n-1]) >= 0 {
		s = s[:n-1]
	}
	return count.match(s)
}

// interval is a Go duration written as N[.N]UNIT terms, with no sign.
func interval(s string) bool {
	if s == "" {
		return false
	}
	for s != "" {
		n := len(s) - len(strings.TrimLeft(s, "0123456789"))
		if n == 0 {
			return false
		}
		s = s[n:]
		if frac, ok := strings.CutPrefix(s, "."); ok {
			n = len(frac) - len(strings.TrimLeft(frac, "0123456789"))
			if n == 0 {
				return false
			}
			s = frac[n:]
		}
		unit := ""
		for _, u := range []string{"ns", "us", "µs", "ms", "s", "m", "h"} {
			if strings.HasPrefix(s, u) {
				unit = u
				break
			}
		}
		if unit == "" {
			return false
		}
		s = s[len(unit):]
	}
	return true
}

// nfsSec is a colon-separated list of NFS security flavours.
func nfsSec(s string) bool {
	for _, f := range strings.Split(s, ":") {
		switch f {
		case "sys", "krb5", "krb5i", "krb5p":
		default:
			return false
		}
	}
	return true
}

// nfsHost is "*", an @netgroup or a host name pattern with wildcards.
func nfsHost(s string) bool {
	return s == "*" || netgroup.match(s) || hostGlob.match(s)
}

// templateVol splits a template volume, STORAGE:vztmpl/FILE, and returns
// its storage.
func templateVol(s string) (string, bool) {
	store, file, ok := strings.Cut(s, ":vztmpl/")
	if !ok || !reStorageID.match(store) || !tmplFile.match(file) {
		return "", false
	}
	return store, true
}

// ranges is ^R(DASH R)?(SEP R(DASH R)?)*$ with R = [0-9]{1,n}: VLAN ids
// ("2-4094 10"), ports ("22,8000:8100").
func ranges(sep, dash string, n int) func(string) bool {
	num := span{rest: digit, min: 1, max: n}
	return func(s string) bool {
		for _, item := range strings.Split(s, sep) {
			lo, hi, two := strings.Cut(item, dash)
			if !num.match(lo) || two && !num.match(hi) {
				return false
			}
		}
		return true
	}
}

// owner is USER[:GROUP], each a name or a numeric id.
func owner(s string) bool {
	u, g, two := strings.Cut(s, ":")
	id := func(v string) bool { return reUser.match(v) || number.match(v) }
	return id(u) && (!two || id(g))
}

// mac is six hex pairs joined by colons.
func mac(s string) bool {
	f := strings.Split(s, ":")
	if len(f) != 6 {
		return false
	}
	for _, b := range f {
		if !hexByte.match(b) {
			return false
		}
	}
	return true
}

// UTF8Locale splits a locale the lxc module's base feature can generate,
// LANG_COUNTRY.UTF-8 (localedef -i LANG_COUNTRY -f UTF-8), into its input
// name; ok is false for any other form. validate and the module both use it.
func UTF8Locale(s string) (input string, ok bool) {
	in, found := strings.CutSuffix(s, ".UTF-8")
	l, c, two := strings.Cut(in, "_")
	if !found || !two || !localeLang.match(l) || !country.match(c) {
		return "", false
	}
	return in, true
}

// yescrypt is a crypt(5) yescrypt hash: $y$PARAMS$SALT$HASH.
func yescrypt(s string) bool {
	f := strings.Split(s, "$")
	return len(f) == 5 && f[0] == "" && f[1] == "y" &&
		span{rest: crypt64, min: 1}.match(f[2]) &&
		span{rest: crypt64, min: 1, max: 86}.match(f[3]) &&
		span{rest: crypt64, min: 43, max: 43}.match(f[4])
}

// shaCrypt is a SHA-crypt hash, $ID$[rounds=N$]SALT$HASH, HASH n bytes.
func shaCrypt(id string, n int) func(string) bool {
	hash := span{rest: crypt64, min: n, max: n}
	return func(s string) bool {
		rest, ok := strings.CutPrefix(s, "$"+id+"$")
		if !ok {
			return false
		}
		f := strings.Split(rest, "$")
		if len(f) == 3 && rounds.match(f[0]) {
			f = f[1:]
		}
		return len(f) == 2 && salt16.match(f[0]) && hash.match(f[1])
	}
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
