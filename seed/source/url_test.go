package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/seed/remote"
	"github.com/phoenix-pve/phoenix/seed/sign"
)

const secretToken = "phoenix@pdm!fleet:5ec2e7-do-not-log"

// answerHost is a fake machine: DMI identifiers, two NICs (and a bridge,
// which is not sent), machine id, hostname and pve-manager's version.
func answerHost(t *testing.T, serial, mac string) *host.DirRoot {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"sys/class/dmi/id/product_serial": serial + "\n",
		"sys/class/dmi/id/product_uuid":   "4c4c4544-0042-3510-8052-b" + serial + "\n",
		"sys/class/dmi/id/product_name":   "PowerEdge R650\n",
		"sys/class/dmi/id/board_serial":   "BRD" + serial + "\n",
		"sys/class/dmi/id/chassis_serial": "CHS" + serial + "\n",
		"sys/class/net/eno1/address":      mac + "\n",
		"sys/class/net/eno2/address":      "3c:ec:ef:00:00:02\n",
		"sys/class/net/vmbr0/address":     mac + "\n",
		"sys/class/net/lo/address":        "00:00:00:00:00:00\n",
		"etc/machine-id":                  "0123456789abcdef0123456789abcdef\n",
		"etc/hostname":                    "pve-" + strings.ToLower(serial) + "\n",
		"var/lib/dpkg/status":             "Package: bash\nStatus: install ok installed\nVersion: 5.2\n\nPackage: pve-manager\nStatus: install ok installed\nVersion: 9.0.11\n\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, nic := range []string{"eno1", "eno2"} {
		if err := os.MkdirAll(filepath.Join(dir, "sys/class/net", nic, "device"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return host.NewDirRoot(dir)
}

// writeToken puts the token in a 0600 file of the root.
func writeToken(t *testing.T, r *host.DirRoot, mode os.FileMode) string {
	t.Helper()
	p := "/etc/phoenix/answer.token"
	if err := os.MkdirAll(r.Path("/etc/phoenix"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Path(p), []byte(secretToken+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(r.Path(p), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// seedFor is a tiny valid seed naming its host.
func seedFor(hostname string) string {
	return "version: 1\nhost:\n  hostname: " + hostname + "\n"
}

// answerServer serves seeds by DMI serial, as PDM's target filters would
// (POST), or by the serial query selector (GET, like Matchbox). It records
// what it received.
type answerServer struct {
	*httptest.Server
	seeds    map[string]string // serial -> seed
	sigs     map[string][]byte // serial -> detached signature
	mans     map[string][]byte // serial -> the manifest it covers
	requests atomic.Int32
	lastBody atomic.Value // remote.Body
	lastAuth atomic.Value // string
}

func newAnswerServer(t *testing.T, tls bool) *answerServer {
	a := &answerServer{seeds: map[string]string{}, sigs: map[string][]byte{}, mans: map[string][]byte{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		a.lastAuth.Store(r.Header.Get("Authorization"))
		var serial string
		sigPath := strings.HasSuffix(r.URL.Path, ".sig")
		manPath := strings.HasSuffix(r.URL.Path, ".manifest")
		switch r.Method {
		case "POST":
			var b remote.Body
			if err := json.NewDecoder(r.Body).Decode(&b); err != nil || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				http.Error(w, "bad body", 400)
				return
			}
			a.lastBody.Store(b)
			serial = b.SysInfo.DMI.System["serial"]
		case "GET":
			serial = r.URL.Query().Get("serial")
		}
		if strings.HasPrefix(r.URL.Path, "/auth") && r.Header.Get("Authorization") != "Bearer "+secretToken {
			w.WriteHeader(401)
			return
		}
		s, ok := a.seeds[serial]
		if !ok {
			http.Error(w, "no answer file found", 404)
			return
		}
		sig, man := a.sigs[serial], a.mans[serial]
		if manPath {
			if man == nil {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(man)
			return
		}
		if sigPath {
			if sig == nil {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(sig)
			return
		}
		if sig != nil && r.Method == "POST" {
			w.Header().Set(remote.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
			if man != nil {
				w.Header().Set(remote.ManifestHeader, base64.StdEncoding.EncodeToString(man))
			}
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = io.WriteString(w, s)
	})
	if tls {
		a.Server = httptest.NewTLSServer(h)
	} else {
		a.Server = httptest.NewServer(h)
	}
	t.Cleanup(a.Close)
	return a
}

func (a *answerServer) fingerprint() string {
	sum := sha256.Sum256(a.Certificate().Raw)
	return remote.FormatFingerprint(sum[:])
}

func (a *answerServer) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Certificate())
	return p
}

func urlOptions(r host.Root, src remote.Source, roots *x509.CertPool) Options {
	return Options{
		Root: r, Wait: -1,
		Remote: Remote{
			Source: src, Version: "1.2.3", SeedDigest: "sha256:abc", Wait: -1, Roots: roots,
			Timeout: 5 * time.Second, TokenOwner: os.Getuid(),
		},
	}
}

// noToken fails the test if the token shows anywhere in text.
func noToken(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, secretToken) || strings.Contains(text, "5ec2e7") {
		t.Fatalf("token leaked into %s: %s", where, text)
	}
}

func TestURLPostBodyAndToken(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["ABC123"] = seedFor("pve-abc123")
	r := answerHost(t, "ABC123", "3c:ec:ef:00:00:01")
	tok := writeToken(t, r, 0o600)
	f, err := Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/auth/answer", TokenFile: tok, Fingerprint: srv.fingerprint()}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Data) != seedFor("pve-abc123") || f.Origin != "url "+srv.URL+"/auth/answer" {
		t.Fatalf("got %q from %q", f.Data, f.Origin)
	}
	if got := srv.lastAuth.Load().(string); got != "Bearer "+secretToken {
		t.Fatalf("Authorization = %q", got)
	}
	b := srv.lastBody.Load().(remote.Body)
	want := remote.SysInfo{
		NetworkInterfaces: []remote.NIC{{Link: "eno1", MAC: "3c:ec:ef:00:00:01"}, {Link: "eno2", MAC: "3c:ec:ef:00:00:02"}},
		DMI: remote.DMI{
			System:    map[string]string{"serial": "ABC123", "uuid": "4c4c4544-0042-3510-8052-bABC123", "name": "PowerEdge R650"},
			Baseboard: map[string]string{"serial": "BRDABC123"},
			Chassis:   map[string]string{"serial": "CHSABC123"},
		},
	}
	gotJSON, _ := json.Marshal(b.SysInfo)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("sysinfo\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if b.Schema.Version != remote.SchemaVersion || b.Phoenix != (remote.Phoenix{Version: "1.2.3", PVEVersion: "9.0.11", MachineID: "0123456789abcdef0123456789abcdef", Hostname: "pve-abc123", SeedDigest: "sha256:abc"}) {
		t.Fatalf("schema/phoenix: %+v %+v", b.Schema, b.Phoenix)
	}
	noToken(t, "trace", strings.Join(f.Trace, "\n"))
	noToken(t, "origin", f.Origin+f.Name)
}

func TestURLSystemRootsAndPinning(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["ABC123"] = seedFor("a")
	r := answerHost(t, "ABC123", "3c:ec:ef:00:00:01")
	// Verified against the roots given (the test server's CA).
	if _, err := Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/answer"}, srv.roots())); err != nil {
		t.Fatalf("roots: %v", err)
	}
	// Not in the system roots: refused with a TLS cause.
	_, err := Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/answer"}, nil))
	var re *remote.Error
	if !errors.As(err, &re) || re.Cause != remote.CauseTLS || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// A wrong pin is refused even though the roots would accept it.
	wrong := strings.Repeat("AB:", 31) + "AB"
	tok := writeToken(t, r, 0o600)
	_, err = Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/auth/answer", Fingerprint: wrong, TokenFile: tok}, srv.roots()))
	if !errors.As(err, &re) || re.Cause != remote.CauseFingerprint {
		t.Fatalf("wrong fingerprint: %v", err)
	}
	for _, w := range []string{srv.URL + "/auth/answer", "TLS fingerprint mismatch", srv.fingerprint(), wrong} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	noToken(t, "error", err.Error())
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("the server saw %d requests; the mismatched handshake must not send one", n)
	}
}

func TestURLNotFoundRetriesBounded(t *testing.T) {
	srv := newAnswerServer(t, true)
	r := answerHost(t, "NOPE", "3c:ec:ef:00:00:01")
	o := urlOptions(r, remote.Source{URL: srv.URL + "/answer", Fingerprint: srv.fingerprint()}, nil)
	var slept []time.Duration
	o.Remote.Wait = 20 * time.Second
	o.Remote.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	var logged []string
	o.Log = func(s string) { logged = append(logged, s) }
	_, err := Locate(context.Background(), o)
	if !remote.IsNotFound(err) || !strings.Contains(err.Error(), "no seed for this host") || !strings.Contains(err.Error(), srv.URL+"/answer") {
		t.Fatalf("404: %v", err)
	}
	// 1+2+4+8 = 15 s fit in 20 s, the next 16 s do not: 5 tries.
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}; len(slept) != len(want) || slept[3] != want[3] {
		t.Fatalf("backoff %v, want %v", slept, want)
	}
	if n := srv.requests.Load(); n != 5 || !strings.Contains(err.Error(), "after 5 tries") {
		t.Fatalf("%d requests: %v", n, err)
	}
	if len(logged) != 4 || !strings.Contains(logged[0], "trying again in 1s") {
		t.Fatalf("log: %q", logged)
	}
	// Once the server learns the host, a later try finds it.
	o.Remote.Sleep = func(context.Context, time.Duration) error { srv.seeds["NOPE"] = seedFor("late"); return nil }
	if f, err := Locate(context.Background(), o); err != nil || !strings.Contains(string(f.Data), "late") {
		t.Fatalf("after 404: %v", err)
	}
}

func TestURLPerHostSelection(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["AAA111"] = seedFor("pve-a")
	srv.seeds["BBB222"] = seedFor("pve-b")
	for _, mode := range []string{remote.ModePost, remote.ModeGet} {
		for serial, want := range map[string]string{"AAA111": "pve-a", "BBB222": "pve-b"} {
			r := answerHost(t, serial, "3c:ec:ef:00:00:01")
			f, err := Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/seed.yaml?profile=pve", Fingerprint: srv.fingerprint(), Mode: mode}, nil))
			if err != nil {
				t.Fatalf("%s %s: %v", mode, serial, err)
			}
			if !strings.Contains(string(f.Data), want) {
				t.Fatalf("%s %s: got %q", mode, serial, f.Data)
			}
			if mode == remote.ModeGet {
				for _, sel := range []string{"profile=pve", "serial=" + serial, "mac=3c%3Aec%3Aef%3A00%3A00%3A01", "hostname=pve-" + strings.ToLower(serial), "uuid="} {
					if !strings.Contains(f.Origin, sel) {
						t.Errorf("GET %s lacks %s", f.Origin, sel)
					}
				}
			}
		}
	}
}

// testSigner makes a key and the allowed_signers line for it.
func testSigner(t *testing.T, r *host.DirRoot) ed25519.PrivateKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), pub} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	line := "ops@example.org ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + "\n"
	if err := os.MkdirAll(r.Path("/etc/phoenix"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Path(AllowedSigners), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv
}

func signSeed(t *testing.T, key ed25519.PrivateKey, data string) []byte {
	s, err := sign.SignEd25519(key, Namespace, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Marshal()
}

// signURLSeed is what `phoenix seed sign --serial N` writes for a seed
// with no bundle files: the manifest and its signature.
func signURLSeed(t *testing.T, key ed25519.PrivateKey, data string, serial uint64) (sig, man []byte) {
	t.Helper()
	man, err := BuildManifest([]byte(data), serial, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return signSeed(t, key, string(man)), man
}

func TestURLSignedResponses(t *testing.T) {
	for _, tlsOn := range []bool{true, false} {
		srv := newAnswerServer(t, tlsOn)
		r := answerHost(t, "SIG1", "3c:ec:ef:00:00:01")
		key := testSigner(t, r)
		body := seedFor("signed")
		srv.seeds["SIG1"] = body
		src := remote.Source{URL: srv.URL + "/seed.yaml"}
		if tlsOn {
			src.Fingerprint = srv.fingerprint()
		}
		name := map[bool]string{true: "https", false: "http"}[tlsOn]
		// Unsigned: fine over https, refused over plain http.
		_, err := Locate(context.Background(), urlOptions(r, src, nil))
		if tlsOn && err != nil || !tlsOn && (err == nil || !strings.Contains(err.Error(), "plain http must be signed")) {
			t.Fatalf("%s unsigned: %v", name, err)
		}
		srv.sigs["SIG1"], srv.mans["SIG1"] = signURLSeed(t, key, body, 7)
		for _, mode := range []string{remote.ModePost, remote.ModeGet} {
			src.Mode = mode
			f, err := Locate(context.Background(), urlOptions(r, src, nil))
			if err != nil || !f.Signed || f.Signer != "ops@example.org" {
				t.Fatalf("%s %s signed: %+v %v", name, mode, f, err)
			}
		}
		// Tampered: the seed changed after signing; refused over both.
		srv.seeds["SIG1"] = body + "  domain: evil.example\n"
		for _, mode := range []string{remote.ModePost, remote.ModeGet} {
			src.Mode = mode
			_, err = Locate(context.Background(), urlOptions(r, src, nil))
			var re *remote.Error
			if !errors.As(err, &re) || re.Cause != remote.CauseRefused || !errors.Is(err, ErrBundleMismatch) {
				t.Fatalf("%s %s tampered: %v", name, mode, err)
			}
		}
		// A signature of the seed bytes alone (no manifest, so no serial)
		// is refused: it could be replayed.
		srv.seeds["SIG1"] = body
		srv.sigs["SIG1"], srv.mans["SIG1"] = signSeed(t, key, body), nil
		for _, mode := range []string{remote.ModePost, remote.ModeGet} {
			src.Mode = mode
			_, err = Locate(context.Background(), urlOptions(r, src, nil))
			if err == nil || !strings.Contains(err.Error(), "signature without a manifest") {
				t.Fatalf("%s %s no manifest: %v", name, mode, err)
			}
		}
		srv.sigs["SIG1"] = nil
	}
}

func TestURLTokenFileRules(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["T1"] = seedFor("t")
	r := answerHost(t, "T1", "3c:ec:ef:00:00:01")
	tok := writeToken(t, r, 0o644)
	src := remote.Source{URL: srv.URL + "/auth/answer", Fingerprint: srv.fingerprint(), TokenFile: tok}
	_, err := Locate(context.Background(), urlOptions(r, src, nil))
	if err == nil || !strings.Contains(err.Error(), "must be 0600") || srv.requests.Load() != 0 {
		t.Fatalf("0644 token: %v (requests %d)", err, srv.requests.Load())
	}
	noToken(t, "error", err.Error())
	o := urlOptions(r, src, nil)
	o.Remote.TokenOwner = os.Getuid() + 1
	writeToken(t, r, 0o600)
	if _, err := Locate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "owned by root") {
		t.Fatalf("foreign owner: %v", err)
	}
	if err := os.Remove(r.Path(tok)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/shadow", r.Path(tok)); err != nil {
		t.Fatal(err)
	}
	if _, err := Locate(context.Background(), urlOptions(r, src, nil)); err == nil || !strings.Contains(err.Error(), "symlinks are refused") {
		t.Fatalf("symlink token: %v", err)
	}
	// Without the token the server says 401: an HTTP status, not retried.
	src.TokenFile = ""
	_, err = Locate(context.Background(), urlOptions(r, src, nil))
	var re *remote.Error
	if !errors.As(err, &re) || re.Cause != remote.CauseStatus || re.Status != 401 {
		t.Fatalf("no token: %v", err)
	}
	// Credentials in the URL are refused before anything is sent.
	src.URL = strings.Replace(srv.URL, "https://", "https://root:hunter2@", 1)
	if _, err := Locate(context.Background(), urlOptions(r, src, nil)); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("userinfo: %v", err)
	}
}

func TestURLSourcesInPrecedence(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["P1"] = seedFor("from-url")
	r := answerHost(t, "P1", "3c:ec:ef:00:00:01")
	tok := writeToken(t, r, 0o600)
	fp := srv.fingerprint()
	o := urlOptions(r, remote.Source{}, nil)
	// /etc/phoenix/source.yaml, after the local seed files.
	src := "url: " + srv.URL + "/auth/answer\nfingerprint: " + fp + "\ntoken_file: " + tok + "\n"
	if err := os.WriteFile(r.Path(LocalSource), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Locate(context.Background(), o)
	if err != nil || f.Origin != "url "+srv.URL+"/auth/answer" {
		t.Fatalf("source.yaml: %v %+v", err, f)
	}
	// --seed URL takes fingerprint and token from source.yaml.
	o.Flag = srv.URL + "/auth/other"
	if f, err = Locate(context.Background(), o); err != nil || f.Origin != "url "+srv.URL+"/auth/other" {
		t.Fatalf("--seed URL: %v", err)
	}
	o.Flag = ""
	// The kernel command line, with its own fingerprint.
	if err := os.MkdirAll(r.Path("/proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Path("/proc/cmdline"), []byte("quiet phoenix.seed="+srv.URL+"/auth/cmdline phoenix.seed.fingerprint="+strings.ReplaceAll(fp, ":", "")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = Locate(context.Background(), o); err != nil || f.Origin != "url "+srv.URL+"/auth/cmdline" {
		t.Fatalf("cmdline URL: %v", err)
	}
	// A typo in source.yaml is an error, not a silently dropped pin.
	if err := os.WriteFile(r.Path(LocalSource), []byte(src+"fingerprnt: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Locate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "fingerprnt") {
		t.Fatalf("typo: %v", err)
	}
}

func TestURLDiscovery(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["D1"] = seedFor("discovered")
	r := answerHost(t, "D1", "3c:ec:ef:00:00:01")
	fp := srv.fingerprint()
	o := urlOptions(r, remote.Source{URL: remote.Discover}, nil)
	o.Remote.LookupTXT = func(_ context.Context, name string) ([]string, error) {
		switch name {
		case "phoenix-seed.lab.example":
			return []string{srv.URL + "/dns"}, nil
		case "phoenix-seed-cert-fingerprint.lab.example":
			return []string{fp}, nil
		}
		return nil, errors.New("no such host")
	}
	// No lease, no resolv.conf: a clear error.
	if _, err := Locate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "no DHCP option phoenix-seed-url") {
		t.Fatalf("nothing to discover: %v", err)
	}
	writeTree(t, r.Dir(), map[string]string{"etc/resolv.conf": "nameserver 10.0.0.1\nsearch lab.example other.example\n"})
	f, err := Locate(context.Background(), o)
	if err != nil || f.Origin != "url "+srv.URL+"/dns" {
		t.Fatalf("DNS: %v", err)
	}
	// A DHCP lease beats DNS; the newest lease wins.
	writeTree(t, r.Dir(), map[string]string{"var/lib/dhcp/dhclient.vmbr0.leases": `lease {
  interface "vmbr0";
  option phoenix-seed-url "` + srv.URL + `/old";
}
lease {
  interface "vmbr0";
  option phoenix-seed-url "` + srv.URL + `/dhcp";
  option phoenix-seed-cert-fingerprint "` + fp + `";
}
`})
	o.Remote.LookupTXT = nil
	if f, err = Locate(context.Background(), o); err != nil || f.Origin != "url "+srv.URL+"/dhcp" {
		t.Fatalf("DHCP: %v", err)
	}
	if !strings.Contains(strings.Join(f.Trace, "\n"), "DHCP option phoenix-seed-url") {
		t.Fatalf("trace: %q", f.Trace)
	}
}

func TestURLFingerprintFormats(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	for _, s := range []string{hex.EncodeToString(sum[:]), strings.ToUpper(hex.EncodeToString(sum[:])), remote.FormatFingerprint(sum[:])} {
		if b, err := remote.ParseFingerprint(s); err != nil || string(b) != string(sum[:]) {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "abcd", strings.Repeat("zz", 32)} {
		if _, err := remote.ParseFingerprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// A PHOENIX stick may carry source.yaml instead of a seed: it names the
// answer server and is judged like a seed on the stick (signed after the
// first completion).
func TestURLSourceOnStick(t *testing.T) {
	needTool(t, "mkfs.vfat", "mcopy")
	srv := newAnswerServer(t, true)
	srv.seeds["S1"] = seedFor("from-stick-source")
	src := "url: " + srv.URL + "/answer\nfingerprint: " + srv.fingerprint() + "\n"
	stick := mkFAT(t, 4, "PHOENIX", map[string]string{"source.yaml": src})
	r := newRoot(t, fakeBlock{name: "sdb", removable: true, image: stick})
	writeTree(t, r.Dir(), map[string]string{
		"sys/class/dmi/id/product_serial": "S1\n",
	})
	o := urlOptions(r, remote.Source{}, nil)
	f, err := Locate(context.Background(), o)
	if err != nil || f.Origin != "url "+srv.URL+"/answer" || !strings.Contains(string(f.Data), "from-stick-source") {
		t.Fatalf("stick source: %v %+v", err, f)
	}
	// After the first completion an unsigned source.yaml is ignored.
	o.Completed = true
	if _, err := Locate(context.Background(), o); !errors.Is(err, ErrNoSeed) || !strings.Contains(err.Error(), "unsigned seed ignored") {
		t.Fatalf("completed: %v", err)
	}
}

// A URL from the command line never receives the token (or the pin) that
// /etc/phoenix/source.yaml gives for another server; discovery only sends
// the token to a pinned server.
func TestURLTokenStaysWithItsServer(t *testing.T) {
	srv := newAnswerServer(t, true)
	other := newAnswerServer(t, true)
	srv.seeds["K1"], other.seeds["K1"] = seedFor("mine"), seedFor("other")
	r := answerHost(t, "K1", "3c:ec:ef:00:00:01")
	tok := writeToken(t, r, 0o600)
	if err := os.WriteFile(r.Path(LocalSource), []byte("url: "+srv.URL+"/auth/answer\nfingerprint: "+srv.fingerprint()+"\ntoken_file: "+tok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := urlOptions(r, remote.Source{}, nil)
	o.Flag = other.URL + "/seed.yaml"
	o.Remote.Roots = other.roots()
	f, err := Locate(context.Background(), o)
	if err != nil || !strings.Contains(string(f.Data), "other") {
		t.Fatalf("other server: %v", err)
	}
	if got, _ := other.lastAuth.Load().(string); got != "" {
		t.Fatalf("the other server got Authorization %q", got)
	}
	if err := os.WriteFile(r.Path(LocalSource), []byte("url: discover\ntoken_file: "+tok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Flag = ""
	if _, err := Locate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "needs a fingerprint") {
		t.Fatalf("discover with token, no pin: %v", err)
	}
}

// A server that echoes the request in its error body does not get the
// token into the error.
func TestURLTokenNotEchoed(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied: "+r.Header.Get("Authorization"), http.StatusForbidden)
	}))
	defer srv.Close()
	r := answerHost(t, "E1", "3c:ec:ef:00:00:01")
	tok := writeToken(t, r, 0o600)
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	_, err := Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/a", TokenFile: tok}, p))
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden: denied: Bearer [token]") {
		t.Fatalf("%v", err)
	}
	noToken(t, "error", err.Error())
}

// An OpenPGP .sig (what Matchbox serves) is ignored, not a failed check.
func TestURLForeignSigIgnored(t *testing.T) {
	srv := newAnswerServer(t, true)
	srv.seeds["M1"] = seedFor("matchbox")
	srv.sigs["M1"] = []byte("-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n")
	r := answerHost(t, "M1", "3c:ec:ef:00:00:01")
	f, err := Locate(context.Background(), urlOptions(r, remote.Source{URL: srv.URL + "/generic", Mode: remote.ModeGet, Fingerprint: srv.fingerprint()}, nil))
	if err != nil || f.Signed || !strings.Contains(strings.Join(f.Trace, "\n"), "not an SSH signature") {
		t.Fatalf("%v %+v", err, f)
	}
}

// An answer server (or anyone on a plain-http path) that serves an older
// signed seed after a newer one ran is refused: the signature covers a
// manifest with a serial, and the host records the newest serial it ran
// (SerialFile, shared with stick seeds).
func TestURLReplayRefused(t *testing.T) {
	for _, mode := range []string{remote.ModePost, remote.ModeGet} {
		srv := newAnswerServer(t, false)
		r := answerHost(t, "R1", "3c:ec:ef:00:00:01")
		key := testSigner(t, r)
		src := remote.Source{URL: srv.URL + "/seed.yaml", Mode: mode}
		oldSeed, newSeed := seedFor("old"), seedFor("new")
		oldSig, oldMan := signURLSeed(t, key, oldSeed, 3)
		srv.seeds["R1"] = newSeed
		srv.sigs["R1"], srv.mans["R1"] = signURLSeed(t, key, newSeed, 5)
		f, err := Locate(context.Background(), urlOptions(r, src, nil))
		if err != nil || !f.Signed || f.Manifest == nil || f.Manifest.Serial != 5 {
			t.Fatalf("%s: newer seed: %+v %v", mode, f, err)
		}
		// The seed runs: its serial is recorded (cmd/phoenix prepareBundle).
		if err := f.RecordSerial(r); err != nil {
			t.Fatal(err)
		}
		// Replay of the older signed seed: signature good, serial old.
		srv.seeds["R1"], srv.sigs["R1"], srv.mans["R1"] = oldSeed, oldSig, oldMan
		_, err = Locate(context.Background(), urlOptions(r, src, nil))
		var re *remote.Error
		if !errors.Is(err, ErrReplay) || !errors.As(err, &re) || re.Cause != remote.CauseRefused ||
			!strings.Contains(err.Error(), "serial 3, but serial 5 was accepted already") {
			t.Fatalf("%s: replay not refused, or not said why: %v", mode, err)
		}
		// Another seed under the serial already accepted is refused too.
		srv.seeds["R1"] = seedFor("other")
		srv.sigs["R1"], srv.mans["R1"] = signURLSeed(t, key, srv.seeds["R1"], 5)
		if _, err := Locate(context.Background(), urlOptions(r, src, nil)); !errors.Is(err, ErrReplay) {
			t.Fatalf("%s: same serial, other seed: %v", mode, err)
		}
		// The same seed again (a reboot before it completed) and a newer
		// one are accepted.
		srv.seeds["R1"] = newSeed
		srv.sigs["R1"], srv.mans["R1"] = signURLSeed(t, key, newSeed, 5)
		if _, err := Locate(context.Background(), urlOptions(r, src, nil)); err != nil {
			t.Fatalf("%s: same seed again: %v", mode, err)
		}
		srv.sigs["R1"], srv.mans["R1"] = signURLSeed(t, key, newSeed, 6)
		if _, err := Locate(context.Background(), urlOptions(r, src, nil)); err != nil {
			t.Fatalf("%s: newer serial: %v", mode, err)
		}
	}
}

// TestOfflineAsksNothing: the early stage (Remote.Offline) refuses a seed
// from an answer server without sending a request; the error says why.
func TestOfflineAsksNothing(t *testing.T) {
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { asked++ }))
	defer srv.Close()
	_, err := Locate(context.Background(), Options{Root: host.NewDirRoot(t.TempDir()), Flag: srv.URL + "/answer", Wait: -1,
		Remote: Remote{Offline: true, Wait: -1}})
	if !errors.Is(err, ErrNeedsNetwork) || asked != 0 {
		t.Fatalf("Locate offline = %v, %d request(s); want ErrNeedsNetwork and none", err, asked)
	}
}
