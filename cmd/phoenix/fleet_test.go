package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap"
)

// TestSeedLocateURL runs `phoenix seed locate --url` against a TLS answer
// server: exit 0 with the source and digest, 1 for 404, a wrong pin or an
// invalid seed (with URL:line:col), 2 for usage errors.
func TestSeedLocateURL(t *testing.T) {
	const good = "version: 1\nhost:\n  hostname: pve1\n"
	const bad = "version: 1\nhost:\n  hostname: pve1\n  colour: blue\n"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			_, _ = io.WriteString(w, good)
		case "/bad":
			_, _ = io.WriteString(w, bad)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().Raw)
	fp := hex.EncodeToString(sum[:])
	root := t.TempDir()
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runSeed(context.Background(), append([]string{"locate", "--root", root}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run("--url", srv.URL+"/good", "--fingerprint", fp)
	if code != exitOK || !strings.Contains(out, "result: url "+srv.URL+"/good") || !strings.Contains(out, "digest: "+bootstrap.Digest([]byte(good))) {
		t.Fatalf("good: %d\n%s", code, out)
	}
	code, out = run("--url", srv.URL+"/bad", "--fingerprint", fp)
	if code != exitFailed || !strings.Contains(out, srv.URL+"/bad:4:3") {
		t.Fatalf("invalid seed: %d\n%s", code, out)
	}
	code, out = run("--url", srv.URL+"/none", "--fingerprint", fp)
	if code != exitFailed || !strings.Contains(out, srv.URL+"/none: no seed for this host") {
		t.Fatalf("404: %d\n%s", code, out)
	}
	code, out = run("--url", srv.URL+"/good", "--fingerprint", strings.Repeat("0", 64))
	if code != exitFailed || !strings.Contains(out, "TLS fingerprint mismatch") {
		t.Fatalf("wrong pin: %d\n%s", code, out)
	}
	code, out = run("--url", srv.URL+"/good")
	if code != exitFailed || !strings.Contains(out, srv.URL+"/good: TLS:") {
		t.Fatalf("untrusted: %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--url", "ftp://x/"},
		{"--fingerprint", fp},
		{"--url", srv.URL, "--fingerprint", "abc"},
		{"--url", srv.URL, "--seed", "/x"},
	} {
		if code, out := run(args...); code != exitUsage {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, out)
		}
	}
	if os.Getuid() == 0 {
		tok := filepath.Join(root, "token")
		if err := os.WriteFile(tok, []byte("id:secret-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out = run("--url", srv.URL+"/good", "--fingerprint", fp, "--token-file", "/token")
		if code != exitOK || strings.Contains(out, "secret-value") || !strings.Contains(out, "token from /token") {
			t.Fatalf("token: %d\n%s", code, out)
		}
	}
}

// TestRunUsesHostOverlay: phoenix run picks the effective seed of the
// machine it runs on (DMI serial, MACs, hostname through the root).
func TestRunUsesHostOverlay(t *testing.T) {
	root := t.TempDir()
	for p, s := range map[string]string{
		"etc/phoenix/seed.yaml":            "version: 1\nhost:\n  hostname: pve\nhosts:\n  - match: {serial: ABC123}\n    overlay: {host: {hostname: pve-a}}\n  - match: {mac: \"3c:ec:ef:00:00:02\"}\n    overlay: {host: {hostname: pve-b}}\n",
		"sys/class/dmi/id/product_serial":  "XYZ\n",
		"sys/class/net/eno1/address":       "3c:ec:ef:00:00:02\n",
		"sys/class/net/eno1/device/vendor": "0x8086\n",
		"proc/sys/kernel/random/boot_id":   "b1\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	o := engineOptions(context.Background(), root, "", &stderr, false)
	if o.SeedErr != nil || o.Seed.Host.Hostname != "pve-b" || o.Seed.Hosts != nil {
		t.Fatalf("%v %+v", o.SeedErr, o.Seed)
	}
	if !strings.Contains(stderr.String(), "hosts[1] (mac=3c:ec:ef:00:00:02) matches") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	// Both entries match: the run records the error and runs nothing.
	if err := os.WriteFile(filepath.Join(root, "sys/class/dmi/id/product_serial"), []byte("ABC123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o = engineOptions(context.Background(), root, "", &stderr, false)
	if o.SeedErr == nil || !strings.Contains(o.SeedErr.Error(), "both match this machine") {
		t.Fatalf("ambiguous: %v", o.SeedErr)
	}
}
