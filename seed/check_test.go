package seed

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// spans are the checks that replaced regular expressions; each must
// accept exactly what its regexp accepted.
var spans = []struct {
	name string
	span span
	expr string
}{
	{"reLabel", reLabel, `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`},
	{"reBridge", reBridge, `^vmbr[0-9]{1,4}$`},
	{"reIface", reIface, `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`},
	{"rePackage", rePackage, `^[a-z0-9][a-z0-9+.-]+$`},
	{"reKmod", reKmod, `^[A-Za-z0-9_-]+$`},
	{"reCmdline", reCmdline, `^[^\s"'\\]+$`},
	{"reSHA256", reSHA256, `^[0-9a-f]{64}$`},
	{"rePool", rePool, `^[A-Za-z][A-Za-z0-9_.:-]{0,254}$`},
	{"reDSPart", reDSPart, `^[A-Za-z0-9_.:-]+$`},
	{"reZProp", reZProp, `^[a-z0-9_.:@-]+$`},
	{"reByID", reByID, `^/dev/disk/by-id/[A-Za-z0-9._:+@-]+$`},
	{"reStorageID", reStorageID, `^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$`},
	{"reUser", reUser, `^[a-z_][a-z0-9_-]{0,31}$`},
	{"reMode", reMode, `^[0-7]{3,4}$`},
	{"reAbsPath", reAbsPath, `^/[^\s\x00-\x1f:]*$`},
	{"reRealm", reRealm, `^[A-Za-z][A-Za-z0-9._-]{1,31}$`},
	{"reRole", reRole, `^[A-Za-z0-9_.-]+$`},
	{"reACLPath", reACLPath, `^/[A-Za-z0-9/_.-]*$`},
	{"reNTHash", reNTHash, `^[0-9A-Fa-f]{32}$`},
	{"reWorkgroup", reWorkgroup, `^[A-Za-z0-9_.!-]{1,15}$`},
	{"reShare", reShare, `^[A-Za-z0-9_.$ -]{1,80}$`},
	{"reSmbKey", reSmbKey, `^[A-Za-z0-9][A-Za-z0-9 :_.-]*$`},
	{"reSnapshot", reSnapshot, `^[A-Za-z][A-Za-z0-9_-]{1,39}$`},
	{"reTag", reTag, `^[a-z0-9_][a-z0-9_+.-]*$`},
	{"reNetName", reNetName, `^eth[0-9]{1,2}$`},
}

// TestSpansMatchTheirRegexps compares each span with the regexp it
// replaced on strings built mostly from the span's own bytes (so many
// match), at lengths around its bounds, with stray bytes mixed in: other
// ASCII, controls, "é" and an invalid UTF-8 byte.
func TestSpansMatchTheirRegexps(t *testing.T) {
	stray := []byte("aZ09-._:/@ +$!\"'\\\t\n\x00\x1f\x7f\xc3\xa9\xff")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range spans {
		re := regexp.MustCompile(tc.expr)
		var own []byte
		for b := 0; b < 256; b++ {
			if tc.span.rest.has(byte(b)) || tc.span.first != nil && tc.span.first.has(byte(b)) {
				own = append(own, byte(b))
			}
		}
		limit := max(tc.span.max, tc.span.min, 8) + 3
		matched := 0
		for i := 0; i < 20000; i++ {
			var b []byte
			if rng.IntN(10) > 0 {
				b = append(b, tc.span.prefix...)
			}
			n := rng.IntN(limit + 1)
			for j := 0; j < n; j++ {
				if rng.IntN(30) == 0 {
					b = append(b, stray[rng.IntN(len(stray))])
				} else {
					b = append(b, own[rng.IntN(len(own))])
				}
			}
			s := string(b)
			want := re.MatchString(s)
			if want {
				matched++
			}
			if got := tc.span.match(s); got != want {
				t.Fatalf("%s: %q: span says %v, %s says %v", tc.name, s, got, tc.expr, want)
			}
		}
		if matched == 0 {
			t.Errorf("%s: no generated string matched: the comparison proves nothing", tc.name)
		}
	}
}

// rules are the hand-written checks that replaced regular expressions,
// with strings they accept, which TestRulesMatchTheirRegexps mutates.
var rules = []struct {
	name  string
	match func(string) bool
	expr  string
	valid []string
}{
	{"reVIDs", reVIDs.match, `^[0-9]{1,4}(-[0-9]{1,4})?( [0-9]{1,4}(-[0-9]{1,4})?)*$`, []string{"2-4094", "10 20 30-40", "1"}},
	{"reOwner", reOwner.match, `^([a-z_][a-z0-9_-]{0,31}|[0-9]+)(:([a-z_][a-z0-9_-]{0,31}|[0-9]+))?$`, []string{"root", "root:www-data", "1000:1000", "_apt:0", "abcdefghijklmnopqrstuvwxyz012345:abcdefghijklmnopqrstuvwxyz-_0123"}},
	{"reDport", reDport.match, `^[0-9]{1,5}(:[0-9]{1,5})?(,[0-9]{1,5}(:[0-9]{1,5})?)*$`, []string{"22", "8000:8100", "22,80,443:445", "65535:1"}},
	{"reMAC", reMAC.match, `^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`, []string{"BC:24:11:aa:00:ff"}},
	{"reLocale", reLocale.match, `^[a-z]{2,3}_[A-Z]{2}\.UTF-8$`, []string{"en_US.UTF-8", "de_DE.UTF-8", "fil_PH.UTF-8"}},
	{"reYescrypt", reYescrypt.match, `^\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}$`, []string{"$y$j9T$Zz1./salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234", "$y$j$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234"}},
	{"reSHA512", reSHA512.match, `^\$6\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$`, []string{"$6$rounds=5000$saltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234", "$6$abc$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234", "$6$rounds=123456789$0123456789abcdef$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234"}},
	{"reSHA256c", reSHA256c.match, `^\$5\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}$`, []string{"$5$abc$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234", "$5$rounds=9$x$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234", "$5$0123456789abcdef$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./01234"}},
	{"reTimezone", reTimezone.match, `^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$`, []string{"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+1"}},
	{"reDriver", reDriver.match, `^[0-9]+\.[0-9]+(\.[0-9]+)?$`, []string{"580.76.05", "550.54"}},
	{"reSize", reSize.match, `^[1-9][0-9]*[KMGT]?$`, []string{"8G", "1024", "1T"}},
	{"reRelPath", reRelPath.match, `^(\.\.[^/\\\x00-\x1f]+|\.?[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.)(/(\.\.[^/\\\x00-\x1f]+|\.?[^/\\\x00-\x1f.][^/\\\x00-\x1f]*|\.))*$`, []string{"scripts/setup.sh", "./a/.b/..c/...", "templates/x.tar.zst", "."}},
	{"reURL", reURL.match, `^https?://[^\s/?#@]+([/?#]\S*)?$`, []string{"https://example.com/a?b#c", "http://h", "https://h:8443/x"}},
	{"reInterval", reInterval.match, `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, []string{"1h30m", "2.5s", "100ms", "3µs", "1m5s", "7ns", "9us"}},
	{"reNFSSec", reNFSSec.match, `^(sys|krb5|krb5i|krb5p)(:(sys|krb5|krb5i|krb5p))*$`, []string{"sys", "krb5:krb5i:krb5p"}},
	{"reNFSHost", reNFSHost.match, `^(\*|@[A-Za-z0-9_.-]+|[A-Za-z0-9*?_.][A-Za-z0-9*?_.-]*)$`, []string{"*", "@netgroup", "*.lan", "host?.example.com"}},
	{"reTemplate", func(s string) bool { _, ok := templateVol(s); return ok }, `^([a-z][a-z0-9._-]*[a-z0-9]):vztmpl/([^/\s]+)$`, []string{"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "nfs.iso-2:vztmpl/a"}},
}

// TestRulesMatchTheirRegexps compares each rule with the regexp it
// replaced on valid strings and on random edits of them (insert, delete or
// replace a byte, up to four times), which land on both sides of the rule.
func TestRulesMatchTheirRegexps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range rules {
		re := regexp.MustCompile(tc.expr)
		alphabet := []byte(":,-_.@$ =/\\#?*\t\n\x00\x1f\xc3\xa9")
		for _, v := range tc.valid {
			alphabet = append(alphabet, v...)
		}
		var yes, no int
		for i := 0; i < 20000; i++ {
			b := []byte(tc.valid[rng.IntN(len(tc.valid))])
			for range rng.IntN(5) {
				c := alphabet[rng.IntN(len(alphabet))]
				j := rng.IntN(len(b) + 1)
				switch rng.IntN(3) {
				case 0:
					b = append(b[:j], append([]byte{c}, b[j:]...)...)
				case 1:
					if j < len(b) {
						b = append(b[:j], b[j+1:]...)
					}
				default:
					if j < len(b) {
						b[j] = c
					}
				}
			}
			s := string(b)
			want := re.MatchString(s)
			if want {
				yes++
			} else {
				no++
			}
			if got := tc.match(s); got != want {
				t.Fatalf("%s: %q: rule says %v, %s says %v", tc.name, s, got, tc.expr, want)
			}
		}
		if yes == 0 || no == 0 {
			t.Errorf("%s: %d matches, %d misses: the comparison proves little", tc.name, yes, no)
		}
	}
}

// BenchmarkFirstUse is what the first checks cost in a fresh process:
// spans and rules against compiling the regexps they replaced.
func BenchmarkFirstUse(b *testing.B) {
	b.Run("spans", func(b *testing.B) {
		for b.Loop() {
			for _, tc := range spans {
				tc.span.match("x")
			}
			for _, tc := range rules {
				tc.match("x")
			}
		}
	})
	b.Run("regexps", func(b *testing.B) {
		for b.Loop() {
			for _, tc := range spans {
				regexp.MustCompile(tc.expr).MatchString("x")
			}
			for _, tc := range rules {
				regexp.MustCompile(tc.expr).MatchString("x")
			}
		}
	})
}

func TestTemplateVol(t *testing.T) {
	for in, want := range map[string]string{
		"local:vztmpl/debian-12.tar.zst": "local",
		"nfs.iso-2:vztmpl/a":             "nfs.iso-2",
		"local:iso/debian-12.iso":        "",
		"local:vztmpl/a/b":               "",
	} {
		if got, ok := templateVol(in); got != want || ok != (want != "") {
			t.Errorf("templateVol(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
