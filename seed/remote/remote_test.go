package remote

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

func hostRoot(dir string) host.Root { return host.NewDirRoot(dir) }

func TestReadResponseBodies(t *testing.T) {
	for name, tc := range map[string]struct {
		wire, body, err string
	}{
		"length":    {wire: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", body: "hello"},
		"chunked":   {wire: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: 1\r\n\r\n", body: "hello world"},
		"close":     {wire: "HTTP/1.0 200 OK\r\n\r\nto the end", body: "to the end"},
		"continue":  {wire: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", body: "ok"},
		"too big":   {wire: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", err: "larger than 16 bytes"},
		"big chunk": {wire: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n", err: "larger than 16 bytes"},
		"short":     {wire: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", err: "shorter than its Content-Length"},
		"garbage":   {wire: "SSH-2.0-OpenSSH_9.2\r\n", err: "not an HTTP/1.x response"},
		"cut":       {wire: "HTTP/1.1 200 OK\r\nContent-", err: "closed before the response ended"},
	} {
		resp, err := readResponse(bufio.NewReader(strings.NewReader(tc.wire)), "GET", 16)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case string(resp.body) != tc.body:
			t.Errorf("%s: body %q", name, resp.body)
		}
	}
}

func TestParseLeases(t *testing.T) {
	url, fp := ParseLeases(`lease {
  interface "eno1";
  option routers 10.0.0.1;
  option phoenix-seed-url "https://seeds.lab/answer";
  option proxmox-auto-installer-manifest-url "https://pdm.lab/api2/json/auto-install/answer";
}
lease {
  option phoenix-seed-url "https://seeds.lab/v2";
  option phoenix-seed-cert-fingerprint "AB:CD";
}`)
	if url != "https://seeds.lab/v2" || fp != "AB:CD" {
		t.Fatalf("%q %q", url, fp)
	}
}

func TestDpkgVersion(t *testing.T) {
	status := "Package: pve-manager\nStatus: deinstall ok config-files\nVersion: 8.4.1\n\nPackage: pve-manager\nStatus: install ok installed\nArchitecture: all\nVersion: 9.0.11\nDescription: x\n more\n"
	if v := dpkgVersion([]byte(status), "pve-manager"); v != "9.0.11" {
		t.Fatalf("%q", v)
	}
	if v := dpkgVersion([]byte("Package: bash\nStatus: install ok installed\nVersion: 5\n"), "pve-manager"); v != "" {
		t.Fatalf("%q", v)
	}
}

func TestCheckURL(t *testing.T) {
	for _, bad := range []string{"ftp://x/", "https://", "https://u:p@h/", "https://h/#frag", "/etc/seed.yaml"} {
		if _, err := CheckURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("%q: credentials in %v", bad, err)
		}
	}
	for _, good := range []string{"https://pdm.lab:8443/api2/json/auto-install/answer", "http://10.0.2.2:8080/seed.yaml?profile=x"} {
		if _, err := CheckURL(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

func TestParseSource(t *testing.T) {
	s, err := ParseSource("source.yaml", []byte("url: discover\ntoken_file: /etc/phoenix/t\nmode: get\n"))
	if err != nil || s.URL != Discover || s.Mode != ModeGet {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"", "url: https://h/\nmode: put\n", "url: https://h/\ntoken_file: rel\n", "url: https://h/\nfingerprint: 12\n", "url: https://h/\ntoken: x\n"} {
		if _, err := ParseSource("source.yaml", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDNSFailureNamed: a host that does not resolve (RFC 6761 .invalid)
// fails with the DNS cause and the URL, never the token.
func TestDNSFailureNamed(t *testing.T) {
	root := t.TempDir()
	f := &Fetcher{Root: hostRoot(root), Client: Client{Timeout: 3 * time.Second}}
	_, err := f.Fetch(context.Background(), Source{URL: "https://seeds.phoenix-test.invalid/answer"})
	var re *Error
	if !errors.As(err, &re) || re.Cause != CauseDNS || !strings.HasPrefix(err.Error(), "https://seeds.phoenix-test.invalid/answer: DNS: ") {
		t.Fatalf("%v", err)
	}
	if !re.Temporary() {
		t.Error("a DNS failure is retried at boot")
	}
}
