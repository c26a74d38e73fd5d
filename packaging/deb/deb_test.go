package deb

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/units"
)

func TestUpstreamVersion(t *testing.T) {
	date := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"v1.2.0":                  "1.2.0",
		"1.2.0":                   "1.2.0",
		"v1.2.0-dirty":            "1.2.0+dirty",
		"v1.2.0-3-gabc1234":       "1.2.0+git3.abc1234",
		"v1.2.0-3-gabc1234-dirty": "1.2.0+git3.abc1234.dirty",
		"e0a71a4":                 "0~git20261201.e0a71a4",
		"e0a71a4-dirty":           "0~git20261201.e0a71a4.dirty",
		"dev":                     "0~git20261201",
	} {
		if got := UpstreamVersion(in, date); got != want {
			t.Errorf("UpstreamVersion(%q) = %q, want %q", in, got, want)
		}
	}
	// dpkg must agree that these sort in build order.
	if _, err := exec.LookPath("dpkg"); err != nil {
		return
	}
	order := []string{"0~git20261201.e0a71a4-1", "1.2.0-1", "1.2.0+git3.abc1234-1"}
	for i := 0; i+1 < len(order); i++ {
		if err := exec.Command("dpkg", "--compare-versions", order[i], "lt", order[i+1]).Run(); err != nil {
			t.Errorf("dpkg: %s is not older than %s", order[i], order[i+1])
		}
	}
}

// built is one package built for the tests, from the phoenix of this
// checkout.
type built struct {
	deb, dir string
}

func buildPackage(t *testing.T, version string) built {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "phoenix")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/phoenix")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	deb, err := Build(context.Background(), Options{
		Repo: repo, Binary: bin, Version: version, OutDir: dir, Work: work,
		Date: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return built{deb: deb, dir: dir}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sourceCLI reads the verbs and flags straight from cmd/phoenix's Go
// source, independently of the usage text clidoc parses, so a flag the
// parser missed fails the test.
func sourceCLI(t *testing.T) (verbs, flags []string) {
	t.Helper()
	srcs, err := filepath.Glob("../../cmd/phoenix/*.go")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no cmd/phoenix sources: %v", err)
	}
	verbRe := regexp.MustCompile(`register\(command\{name: "([a-z-]+)"`)
	flagRe := regexp.MustCompile(`\b(?:fs|fl)\.(?:String|Bool|Int|Int64|Uint|Duration|Float64|Var|Func|BoolFunc|TextVar)\(\s*(?:[^,"()]+,\s*)?"([A-Za-z][A-Za-z0-9-]*)"`)
	seen := map[string]bool{}
	for _, p := range srcs {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range verbRe.FindAllStringSubmatch(string(data), -1) {
			verbs = append(verbs, m[1])
		}
		for _, m := range flagRe.FindAllStringSubmatch(string(data), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				flags = append(flags, m[1])
			}
		}
	}
	sort.Strings(verbs)
	sort.Strings(flags)
	if len(verbs) < 10 || len(flags) < 10 {
		t.Fatalf("read only %d verbs and %d flags from cmd/phoenix: the regexps are stale", len(verbs), len(flags))
	}
	return verbs, flags
}

func gunzip(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestPackage(t *testing.T) {
	b := buildPackage(t, "v0.1.0")
	if filepath.Base(b.deb) != "phoenix_0.1.0-1_amd64.deb" {
		t.Errorf("package file %s, want phoenix_0.1.0-1_amd64.deb", filepath.Base(b.deb))
	}

	// Control: the fields Debian needs, and no conffiles (Phoenix ships no
	// configuration; the seed is the admin's).
	info := run(t, "dpkg-deb", "-I", b.deb)
	for _, want := range []string{"Package: phoenix", "Version: 0.1.0-1", "Architecture: amd64", "Section: admin",
		"Priority: optional", "Maintainer: ", "Description: first-boot provisioner", " postinst ", " prerm ", " postrm "} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, "conffiles") {
		t.Errorf("the package has conffiles:\n%s", info)
	}

	// Layout.
	list := run(t, "dpkg-deb", "-c", b.deb)
	want := []string{
		"-rwxr-xr-x root/root .* ./usr/sbin/phoenix$",
		"./usr/lib/systemd/system/phoenix.service$", "./usr/lib/systemd/system/phoenix-reseed.path$",
		"./usr/lib/systemd/system/phoenix-reseed.service$",
		"./usr/share/man/man8/phoenix.8.gz$", "./usr/share/man/man5/phoenix-seed.5.gz$",
		"./usr/share/bash-completion/completions/phoenix$", "./usr/share/zsh/vendor-completions/_phoenix$",
		"./usr/share/fish/vendor_completions.d/phoenix.fish$",
		"./usr/share/doc/phoenix/copyright$", "./usr/share/doc/phoenix/changelog.Debian.gz$",
		"./usr/share/lintian/overrides/phoenix$",
	}
	for _, w := range want {
		if !regexp.MustCompile(`(?m)` + w).MatchString(list) {
			t.Errorf("dpkg-deb -c has no line matching %q", w)
		}
	}
	for _, bad := range []string{"./etc/", "./usr/local/", "./lib/systemd", "multi-user.target.wants"} {
		if strings.Contains(list, bad) {
			t.Errorf("the package ships %s:\n%s", bad, list)
		}
	}

	x := filepath.Join(b.dir, "x")
	run(t, "dpkg-deb", "-x", b.deb, x)
	ctl := filepath.Join(b.dir, "control")
	run(t, "dpkg-deb", "-e", b.deb, ctl)

	// The units are the embedded ones, running the package's binary.
	for _, u := range units.All() {
		got, err := os.ReadFile(filepath.Join(x, units.PackageDir, u.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, u.WithBinary(units.PackageBinary).Data) {
			t.Errorf("%s differs from the embedded unit", u.Name)
		}
		if bytes.Contains(got, []byte(units.Binary)) {
			t.Errorf("%s names %s, which the package does not install", u.Name, units.Binary)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		var paths []string
		for _, u := range units.All() {
			paths = append(paths, filepath.Join(x, units.PackageDir, u.Name))
		}
		out, _ := exec.Command(sa, append([]string{"verify"}, paths...)...).CombinedOutput()
		// The one complaint expected here: /usr/sbin/phoenix is not
		// installed on the build machine (verify --root would need a
		// whole system's targets). Anything else is a unit error.
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.Contains(l, "Command "+units.PackageBinary+" is not executable") {
				t.Errorf("systemd-analyze verify: %s", l)
			}
		}
	}

	// Maintainer scripts: nothing is enabled or started, by any means.
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		data, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil {
			t.Fatal(err)
		}
		// The comments explain what the scripts do not do; only the code
		// is checked.
		var code []string
		for _, l := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "#") {
				code = append(code, l)
			}
		}
		text := strings.Join(code, "\n")
		for _, bad := range []string{"systemctl enable", "systemctl start", "systemctl restart", "deb-systemd-helper enable",
			"deb-systemd-invoke start", "deb-systemd-invoke restart", "phoenix install", "phoenix run", "{{"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s contains %q", s, bad)
			}
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
		if sc, err := exec.LookPath("shellcheck"); err == nil {
			if out, err := exec.Command(sc, "-s", "sh", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", s, err, out)
			}
		}
	}

	// Man pages and completions name every verb and flag of the source.
	verbs, flags := sourceCLI(t)
	man8 := gunzip(t, filepath.Join(x, Man8))
	bash := readFile(t, filepath.Join(x, BashComp))
	zsh := readFile(t, filepath.Join(x, ZshComp))
	fish := readFile(t, filepath.Join(x, FishComp))
	for _, v := range verbs {
		if !strings.Contains(man8, ".SS phoenix "+strings.ReplaceAll(v, "-", `\-`)+"\n") {
			t.Errorf("phoenix.8 has no section for verb %s", v)
		}
		if !regexp.MustCompile(`compgen -W '[^']*\b` + v + `\b`).MatchString(bash) {
			t.Errorf("bash completion lacks verb %s", v)
		}
		if !strings.Contains(zsh, "'"+v+":") {
			t.Errorf("zsh completion lacks verb %s", v)
		}
		if !strings.Contains(fish, " -a "+v+" ") {
			t.Errorf("fish completion lacks verb %s", v)
		}
	}
	for _, f := range flags {
		dashed, fishOpt := "--"+f, "-l "+f+" "
		if len(f) == 1 {
			dashed, fishOpt = "-"+f, "-s "+f+" "
		}
		if !strings.Contains(man8, ".B "+lit(dashed)+"\n") && !strings.Contains(man8, ".BI "+lit(dashed)+" ") {
			t.Errorf("phoenix.8 does not document flag %s", dashed)
		}
		if !regexp.MustCompile(`flags='[^']*` + regexp.QuoteMeta(dashed) + `[ ']`).MatchString(bash) {
			t.Errorf("bash completion lacks flag %s", dashed)
		}
		if !strings.Contains(zsh, "'"+dashed+"[") {
			t.Errorf("zsh completion lacks flag %s", dashed)
		}
		if !strings.Contains(fish, fishOpt) {
			t.Errorf("fish completion lacks flag %s", dashed)
		}
	}
	man5 := gunzip(t, filepath.Join(x, Man5))
	for _, sec := range []string{".SH TOP LEVEL", ".SH ZFS", ".SH LXC", ".SH NFS", ".SH SAMBA"} {
		if !strings.Contains(man5, sec+"\n") {
			t.Errorf("phoenix-seed.5 lacks %q (a section of docs/seed.md)", sec)
		}
	}

	// The shells accept the completions.
	shells := map[string]string{"bash": BashComp, "zsh": ZshComp, "fish": FishComp}
	for sh, p := range shells {
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s not installed: its syntax check is skipped", sh)
			continue
		}
		if out, err := exec.Command(sh, "-n", filepath.Join(x, p)).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", sh, p, err, out)
		}
	}
	// bash completes for real.
	for line, want := range map[string]string{
		"phoenix ins":                    "install",
		"phoenix install --r":            "--root",
		"phoenix seed b":                 "build",
		"phoenix seed build --fat-t":     "--fat-type",
		"phoenix seed build --fat-type ": "12 16 32",
		"phoenix validate --format ":     "text json",
		"phoenix status --w":             "--wait",
	} {
		words := strings.Fields(line)
		cword := len(words) - 1
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
			cword++
		}
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		script := "source " + filepath.Join(x, BashComp) + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(cword) + "\n_phoenix\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Errorf("bash completion of %q: %v\n%s", line, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("bash completes %q to %q, want %q", line, got, want)
		}
	}

	if man, err := exec.LookPath("man"); err == nil {
		for _, p := range []string{Man8, Man5} {
			cmd := exec.Command(man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", filepath.Join(x, p))
			cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANROFFSEQ=", "MANWIDTH=80")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("man --warnings %s: %v\n%s", p, err, stderr.String())
			}
		}
	}

	cr := readFile(t, filepath.Join(x, Copyright))
	for _, w := range []string{"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
		"github.com/coreos/go-systemd/v22", "gopkg.in/yaml.v3", "go (standard library)", "/usr/share/common-licenses/Apache-2.0"} {
		if !strings.Contains(cr, w) {
			t.Errorf("copyright lacks %q", w)
		}
	}
	if cl := gunzip(t, filepath.Join(x, Changelog)); !strings.HasPrefix(cl, "phoenix (0.1.0-1) unstable; urgency=medium\n") {
		t.Errorf("changelog.Debian starts %q", strings.SplitN(cl, "\n", 2)[0])
	}

	if testing.Short() {
		return
	}
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Log("lintian not installed: skipped (make test installs it)")
		return
	}
	out, _ := exec.Command("lintian", "--info", b.deb).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			t.Errorf("lintian: %s", l)
		}
	}
	t.Logf("lintian --info:\n%s", out)
}

func lit(s string) string { return strings.ReplaceAll(s, "-", `\-`) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDpkgLifecycle installs the package into an empty root with dpkg
// --root, as the VM test does into a guest image: install enables nothing,
// an upgrade keeps the admin's seed, the markers and what the admin enabled,
// remove keeps state, purge removes it.
func TestDpkgLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	v1 := buildPackage(t, "v0.1.0")
	v2 := buildPackage(t, "v0.2.0")
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// --force-script-chrootless: the scripts run here with DPKG_ROOT set
	// (the root has no shell of its own); they honour DPKG_ROOT.
	dpkg := func(args ...string) string {
		return run(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless"}, args...)...)
	}
	at := func(p string) string { return filepath.Join(root, p) }
	exists := func(p string) bool { _, err := os.Lstat(at(p)); return err == nil }
	wants := func() []string {
		m, _ := filepath.Glob(at("/etc/systemd/system/*.wants/*"))
		return m
	}

	dpkg("-i", v1.deb)
	if !exists(units.PackageBinary) || !exists(units.PackageDir+"/"+units.Boot) {
		t.Fatal("dpkg -i did not install the binary and the units")
	}
	if w := wants(); len(w) != 0 {
		t.Fatalf("installing enabled units: %q", w)
	}
	for _, p := range []string{units.SeedFile, "/var/lib/phoenix", units.Dir + "/" + units.Boot, units.Binary} {
		if exists(p) {
			t.Errorf("installing created %s", p)
		}
	}
	if got := run(t, at(units.PackageBinary), "version"); got != "phoenix v0.1.0\n" {
		t.Errorf("installed phoenix version = %q", got)
	}

	// What the admin does: a seed, an enabled unit, a run's markers.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(at("/etc/phoenix"), 0o700))
	must(os.WriteFile(at(units.SeedFile), []byte("version: 1\n"), 0o600))
	must(os.MkdirAll(at("/var/lib/phoenix/markers"), 0o755))
	must(os.WriteFile(at("/var/lib/phoenix/markers/zfs"), []byte("done\n"), 0o644))
	must(os.MkdirAll(at("/var/log/phoenix"), 0o755))
	must(os.WriteFile(at("/var/log/phoenix/phoenix.log"), []byte("log\n"), 0o644))
	must(os.MkdirAll(at("/etc/systemd/system/multi-user.target.wants"), 0o755))
	must(os.Symlink(units.PackageDir+"/"+units.Boot, at("/etc/systemd/system/multi-user.target.wants/"+units.Boot)))
	kept := []string{units.SeedFile, "/var/lib/phoenix/markers/zfs", "/var/log/phoenix/phoenix.log"}

	dpkg("-i", v2.deb) // upgrade
	if got := run(t, at(units.PackageBinary), "version"); got != "phoenix v0.2.0\n" {
		t.Errorf("after upgrade phoenix version = %q", got)
	}
	for _, p := range kept {
		if !exists(p) {
			t.Errorf("upgrade removed %s", p)
		}
	}
	if w := wants(); len(w) != 1 {
		t.Errorf("upgrade changed the enabled units: %q", w)
	}

	dpkg("-r", "phoenix")
	if exists(units.PackageBinary) || exists(units.PackageDir+"/"+units.Boot) {
		t.Error("dpkg -r left the binary or the units")
	}
	for _, p := range kept {
		if !exists(p) {
			t.Errorf("dpkg -r removed %s (remove keeps state; purge removes it)", p)
		}
	}

	dpkg("-P", "phoenix")
	for _, p := range append(kept, "/etc/phoenix", "/var/lib/phoenix", "/var/log/phoenix") {
		if exists(p) {
			t.Errorf("dpkg -P left %s", p)
		}
	}
	if w := wants(); len(w) != 0 {
		t.Errorf("dpkg -P left wants links: %q", w)
	}
}
