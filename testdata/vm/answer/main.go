// Command answer is the e2e answer server (testdata/vm/answer.sh, the
// "answer" scenario of testdata/vm/e2e.sh): a small HTTPS server on the
// build machine's loopback that a VM reaches through qemu user networking
// (a guestfwd whose command is this binary in -relay mode). It speaks the
// answer protocol Phoenix's seed/remote client speaks (docs/seed-sources.md,
// "Answer servers"): POST /answer with the installer-style sysinfo body and
// a Bearer token, answered by the seed chosen for the host's DMI serial or a
// NIC's MAC, or 404; and POST /report, the completion webhook.
//
// It is a test fixture, not a product: every request is written to
// DIR/requests.jsonl (method, path, whether the token was right, the host it
// chose, the status it answered, the raw body) and every report body to
// DIR/report-N.json, for the harness to check. The body is decoded as plain
// JSON, not with Phoenix's own types, so a change to the wire format shows.
//
// The certificate is self-signed and made at start (ECDSA P-256, in memory
// only); its SHA-256 fingerprint (of the DER, as `openssl x509 -fingerprint
// -sha256` prints it) goes to DIR/fingerprint and the port to DIR/port,
// written last, so the harness waits for DIR/port.
//
//	answer -dir DIR -token-file F -report-token-file F2 \
//	       -host serial=E2E-ANSWER-1=seeds/answer.yaml [-host mac=52:54:00:..=FILE] \
//	       -report-url https://10.0.2.100:8443/report -report-token-path /etc/phoenix/report.token
//	answer -relay 127.0.0.1:PORT    (stdin/stdout <-> TCP, for qemu's guestfwd cmd:)
//
// The served seed is the host's file plus a report section naming
// -report-url, this run's fingerprint and -report-token-path (the token
// file's path in the guest), so the pin is known only once the server runs.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// hostFlag is one -host KEY=VALUE=FILE: serve FILE to the host whose DMI
// system serial (KEY serial) or one of whose NIC MACs (KEY mac) is VALUE.
type hostFlag struct{ key, value, file string }

type hostFlags []hostFlag

func (h *hostFlags) String() string { return fmt.Sprint(*h) }

func (h *hostFlags) Set(s string) error {
	k, rest, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("-host %q: want serial=VALUE=FILE or mac=VALUE=FILE", s)
	}
	i := strings.LastIndex(rest, "=")
	if i <= 0 || (k != "serial" && k != "mac") {
		return fmt.Errorf("-host %q: want serial=VALUE=FILE or mac=VALUE=FILE", s)
	}
	*h = append(*h, hostFlag{k, rest[:i], rest[i+1:]})
	return nil
}

type server struct {
	dir             string
	token, rtoken   []byte
	hosts           hostFlags
	reportURL       string
	reportTokenPath string
	fingerprint     string

	mu      sync.Mutex
	reports int
}

func main() {
	var (
		dir       = flag.String("dir", "", "where to write port, fingerprint, requests.jsonl and report-N.json")
		listen    = flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
		tokenFile = flag.String("token-file", "", "the Bearer token /answer requires")
		rtokFile  = flag.String("report-token-file", "", "the Bearer token /report requires")
		reportURL = flag.String("report-url", "", "report.url put in the served seed (as the guest reaches this server)")
		rtokPath  = flag.String("report-token-path", "", "report.token_file put in the served seed (a path in the guest)")
		relay     = flag.String("relay", "", "copy stdin/stdout to this TCP address and exit (qemu guestfwd cmd:)")
		hosts     hostFlags
	)
	flag.Var(&hosts, "host", "serial=VALUE=FILE or mac=VALUE=FILE (repeatable)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("answer: ")
	if *relay != "" {
		if err := doRelay(*relay); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *dir == "" || *tokenFile == "" || *rtokFile == "" || len(hosts) == 0 {
		log.Fatal("usage: answer -dir DIR -token-file F -report-token-file F -host serial=V=FILE ... (or -relay ADDR)")
	}
	s := &server{dir: *dir, hosts: hosts, reportURL: *reportURL, reportTokenPath: *rtokPath}
	var err error
	if s.token, err = readToken(*tokenFile); err != nil {
		log.Fatal(err)
	}
	if s.rtoken, err = readToken(*rtokFile); err != nil {
		log.Fatal(err)
	}
	for _, h := range hosts {
		if _, err := os.Stat(h.file); err != nil {
			log.Fatal(err)
		}
	}
	cert, fp, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	s.fingerprint = fp
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "fingerprint"), []byte(fp+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := writeAtomic(filepath.Join(s.dir, "port"), fmt.Sprintf("%d\n", port)); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/answer", s.answer)
	mux.HandleFunc("/report", s.report)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.record(r, "none", "", http.StatusNotFound, nil)
		http.NotFound(w, r)
	})
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(os.Stderr, "answer: http: ", 0),
	}
	log.Printf("listening on 127.0.0.1:%d, certificate sha256 %s", port, fp)
	log.Fatal(srv.ServeTLS(ln, "", ""))
}

// readToken reads a token file: one line, surrounding space dropped.
func readToken(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, fmt.Errorf("token: %s is empty", p)
	}
	return t, nil
}

// auth says whether the request carries "Bearer <want>": ok, wrong or missing.
func auth(r *http.Request, want []byte) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "missing"
	}
	got, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
		return "wrong"
	}
	return "ok"
}

// body reads at most 1 MiB: Phoenix's request is a few hundred bytes.
func body(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// answer picks the seed for the host named in the body, as PDM's target
// filters do with JSON pointers into sysinfo: /sysinfo/dmi/system/serial and
// /sysinfo/network_interfaces/*/mac.
func (s *server) answer(w http.ResponseWriter, r *http.Request) {
	b, err := body(r)
	a := auth(r, s.token)
	switch {
	case err != nil:
		s.record(r, a, "", http.StatusBadRequest, b)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case r.Method != http.MethodPost:
		s.record(r, a, "", http.StatusMethodNotAllowed, b)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	case a != "ok":
		s.record(r, a, "", http.StatusUnauthorized, b)
		http.Error(w, "token "+a, http.StatusUnauthorized)
		return
	}
	var req struct {
		SysInfo struct {
			NICs []struct {
				MAC string `json:"mac"`
			} `json:"network_interfaces"`
			DMI struct {
				System map[string]string `json:"system"`
			} `json:"dmi"`
		} `json:"sysinfo"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		s.record(r, a, "", http.StatusBadRequest, b)
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var chosen *hostFlag
	for i, h := range s.hosts {
		switch h.key {
		case "serial":
			if req.SysInfo.DMI.System["serial"] == h.value {
				chosen = &s.hosts[i]
			}
		case "mac":
			for _, n := range req.SysInfo.NICs {
				if strings.EqualFold(n.MAC, h.value) {
					chosen = &s.hosts[i]
				}
			}
		}
		if chosen != nil {
			break
		}
	}
	if chosen == nil {
		s.record(r, a, "", http.StatusNotFound, b)
		http.Error(w, "no seed for this host", http.StatusNotFound)
		return
	}
	seed, err := os.ReadFile(chosen.file)
	if err != nil {
		s.record(r, a, "", http.StatusInternalServerError, b)
		http.Error(w, "seed unreadable", http.StatusInternalServerError)
		return
	}
	if s.reportURL != "" {
		seed = append(bytes.TrimRight(seed, "\n"), '\n')
		seed = fmt.Appendf(seed, "# Added by the e2e answer server: this run's certificate.\nreport:\n  url: %s\n  fingerprint: %s\n", s.reportURL, s.fingerprint)
		if s.reportTokenPath != "" {
			seed = fmt.Appendf(seed, "  token_file: %s\n", s.reportTokenPath)
		}
	}
	s.record(r, a, chosen.key+"="+chosen.value+" "+filepath.Base(chosen.file), http.StatusOK, b)
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(seed)
}

// report keeps each report body as report-N.json (a run posts once per end:
// rebooting, then done).
func (s *server) report(w http.ResponseWriter, r *http.Request) {
	b, err := body(r)
	a := auth(r, s.rtoken)
	if err != nil || r.Method != http.MethodPost || a != "ok" || !json.Valid(b) {
		code := http.StatusUnauthorized
		if a == "ok" {
			code = http.StatusBadRequest
		}
		s.record(r, a, "", code, b)
		http.Error(w, "refused", code)
		return
	}
	s.mu.Lock()
	s.reports++
	n := s.reports
	s.mu.Unlock()
	if err := writeAtomic(filepath.Join(s.dir, fmt.Sprintf("report-%d.json", n)), string(b)); err != nil {
		log.Print(err)
	}
	s.record(r, a, "", http.StatusOK, b)
	w.WriteHeader(http.StatusOK)
}

// record appends one JSON line about a request to requests.jsonl. The body
// is kept raw when it is JSON (as a string otherwise); the token never is.
func (s *server) record(r *http.Request, auth, chosen string, status int, b []byte) {
	e := map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "method": r.Method, "path": r.URL.Path,
		"auth": auth, "chosen": chosen, "status": status, "content_type": r.Header.Get("Content-Type"),
	}
	if json.Valid(b) {
		e["body"] = json.RawMessage(b)
	} else {
		e["body"] = string(b)
	}
	line, _ := json.Marshal(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.dir, "requests.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Print(err)
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
	log.Printf("%s %s auth=%s chosen=%q -> %d", r.Method, r.URL.Path, auth, chosen, status)
}

// selfSigned makes this run's certificate (for 10.0.2.100, the guestfwd
// address, and 127.0.0.1; the client pins it, so the names are informative).
func selfSigned() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "phoenix e2e answer server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("10.0.2.100"), net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("certificate: %w", err)
	}
	sum := sha256.Sum256(der)
	hexes := make([]string, len(sum))
	for i, c := range sum {
		hexes[i] = fmt.Sprintf("%02X", c)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, strings.Join(hexes, ":"), nil
}

func writeAtomic(p, content string) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// doRelay is the guestfwd side: qemu runs it once per guest connection with
// the connection on stdin/stdout, and it joins that to the loopback server.
func doRelay(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer c.Close()
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	// The server closing its side (the answer sent) ends the exchange; the
	// guest's side of the pipe may stay open until qemu closes it.
	_, _ = io.Copy(os.Stdout, c)
	return nil
}
