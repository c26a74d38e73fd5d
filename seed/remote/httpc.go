package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This is a small HTTP/1.1 client over crypto/tls rather than net/http:
// it is all an answer server needs (one request per connection, no
// redirects, no proxies, no cookies, no HTTP/2), and it keeps net/http's
// 1.1 MB and init out of a binary that starts at every boot. See
// docs/design-notes.md, "Answer servers: crypto/tls and a small HTTP/1.1
// client".

// Limits on what a server may send back.
const (
	maxHeaderBytes = 64 << 10
	// DefaultTimeout bounds one request: connect, TLS, write and read.
	DefaultTimeout = 30 * time.Second
)

// request is one HTTP request.
type request struct {
	method string
	url    *url.URL
	header [][2]string
	body   []byte
}

// response is what came back; header keys are lower case.
type response struct {
	status int
	reason string
	header map[string]string
	body   []byte
}

// Client sends requests to one server, verifying TLS against the system
// roots or pinning the leaf certificate's SHA-256 fingerprint.
type Client struct {
	// Fingerprint is the SHA-256 of the server certificate (DER), as
	// `openssl x509 -fingerprint -sha256` prints it; empty means verify
	// against Roots.
	Fingerprint string
	// Roots are the trusted CAs; nil means the system roots.
	Roots *x509.CertPool
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration
	// MaxBody bounds the response body.
	MaxBody int64
	// UserAgent is sent as User-Agent.
	UserAgent string
}

// Cause names what failed, for messages: every failure names the URL and
// one of these.
type Cause string

const (
	CauseURL         Cause = "bad URL"
	CauseDNS         Cause = "DNS"
	CauseConnect     Cause = "connect"
	CauseTLS         Cause = "TLS"
	CauseFingerprint Cause = "TLS fingerprint mismatch"
	CauseTimeout     Cause = "timeout"
	CauseProtocol    Cause = "HTTP protocol"
	CauseStatus      Cause = "HTTP status"
	CauseNotFound    Cause = "no seed for this host"
	CauseRefused     Cause = "refused"
	CauseInvalid     Cause = "invalid seed"
	CauseToken       Cause = "token file"
)

// Error is a failed request: the URL (never the token), the cause and the
// underlying error.
type Error struct {
	URL    string
	Cause  Cause
	Status int // the HTTP status, for CauseStatus and CauseNotFound
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %s", e.URL, e.Cause)
	}
	return fmt.Sprintf("%s: %s: %v", e.URL, e.Cause, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may help: DNS, connection
// and timeout failures, 404 (the server may learn about this host) and
// 5xx. TLS and fingerprint failures, other 4xx and invalid seeds are not.
func (e *Error) Temporary() bool {
	switch e.Cause {
	case CauseDNS, CauseConnect, CauseTimeout, CauseNotFound:
		return true
	case CauseStatus:
		return e.Status >= 500 || e.Status == 429
	}
	return false
}

// ParseFingerprint reads a SHA-256 fingerprint: 64 hex digits, with or
// without colons, any case (the installer's format; proxmox-installer-common
// src/http.rs VerifyCertFingerprint::new strips ':' and hex-decodes).
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	h = strings.TrimPrefix(strings.TrimPrefix(h, "sha256/"), "SHA256/")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q: want a SHA-256 as 64 hex digits (colons allowed)", s)
	}
	return b, nil
}

// FormatFingerprint prints a digest as AA:BB:..., the way openssl does.
func FormatFingerprint(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return sb.String()
}

// fingerprintError is a certificate that does not match the pin.
type fingerprintError struct{ got, want []byte }

func (e *fingerprintError) Error() string {
	return fmt.Sprintf("server certificate is %s, pinned %s", FormatFingerprint(e.got), FormatFingerprint(e.want))
}

// CheckURL refuses what this client cannot or must not send to.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", redactURL(raw), err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%s: want an https:// (or signed http://) URL", redactURL(raw))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%s: no host", redactURL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials in the URL are refused (they would show in logs and status); use a token file", redactURL(raw))
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%s: a URL fragment is never sent; remove it", redactURL(raw))
	}
	return u, nil
}

// redactURL drops userinfo from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.Index(raw, "@"); i >= 0 && strings.Contains(raw[:i], "://") {
			return raw[:strings.Index(raw, "://")+3] + "…@" + raw[i+1:]
		}
		return raw
	}
	u.User = nil
	return u.String()
}

// do sends one request on a fresh connection and reads the whole answer.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	shown := req.url.String()
	fail := func(cause Cause, err error) error { return &Error{URL: shown, Cause: cause, Err: err} }
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	port := req.url.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[req.url.Scheme]
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(req.url.Hostname(), port))
	if err != nil {
		var dns *net.DNSError
		switch {
		case errors.As(err, &dns):
			return nil, fail(CauseDNS, err)
		case isTimeout(err):
			return nil, fail(CauseTimeout, err)
		}
		return nil, fail(CauseConnect, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if req.url.Scheme == "https" {
		tc, err := c.handshake(ctx, conn, req.url.Hostname())
		if err != nil {
			var fe *fingerprintError
			switch {
			case errors.As(err, &fe):
				return nil, fail(CauseFingerprint, fe)
			case isTimeout(err) || ctx.Err() != nil:
				return nil, fail(CauseTimeout, err)
			}
			return nil, fail(CauseTLS, err)
		}
		conn = tc
	}
	if _, err := conn.Write(req.wire(c.UserAgent)); err != nil {
		return nil, fail(classifyIO(err), err)
	}
	resp, err := readResponse(bufio.NewReader(conn), req.method, c.maxBody())
	if err != nil {
		return nil, fail(classifyIO(err), err)
	}
	return resp, nil
}

func (c *Client) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return 4 << 20
}

func (c *Client) handshake(ctx context.Context, conn net.Conn, name string) (*tls.Conn, error) {
	cfg := &tls.Config{ServerName: name, RootCAs: c.Roots, MinVersion: tls.VersionTLS12}
	if c.Fingerprint != "" {
		want, err := ParseFingerprint(c.Fingerprint)
		if err != nil {
			return nil, err
		}
		// Pinned: like the installer (http.rs VerifyCertFingerprint), the
		// leaf's fingerprint replaces chain and name checks; the handshake
		// still proves the server holds that certificate's key.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return &fingerprintError{got: got[:], want: want}
			}
			return nil
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func classifyIO(err error) Cause {
	if isTimeout(err) {
		return CauseTimeout
	}
	var pe *protoError
	if errors.As(err, &pe) {
		return CauseProtocol
	}
	return CauseConnect
}

// wire is the request as bytes. Header values come from Phoenix itself
// (never from a seed) and are checked for line breaks when set.
func (r request) wire(agent string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.method, r.url.RequestURI(), r.url.Host)
	if agent != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", agent)
	}
	b.WriteString("Connection: close\r\n")
	for _, h := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if r.body != nil || r.method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}

// protoError is a response that does not parse as HTTP/1.x.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

func protof(format string, args ...any) error { return &protoError{fmt.Sprintf(format, args...)} }

// readResponse reads status line, headers and a body delimited by
// Content-Length, chunked encoding or the end of the connection, at most
// max bytes. 1xx interim responses are skipped.
func readResponse(br *bufio.Reader, method string, max int64) (*response, error) {
	var hdrBytes int
	line := func() (string, error) {
		s, err := br.ReadString('\n')
		hdrBytes += len(s)
		if hdrBytes > maxHeaderBytes {
			return "", protof("response headers larger than %d bytes", maxHeaderBytes)
		}
		if err != nil {
			if err == io.EOF {
				return "", protof("connection closed before the response ended")
			}
			return "", err
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	for {
		status, err := line()
		if err != nil {
			return nil, err
		}
		proto, rest, _ := strings.Cut(status, " ")
		if !strings.HasPrefix(proto, "HTTP/1.") {
			return nil, protof("not an HTTP/1.x response: %.40q", status)
		}
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 999 {
			return nil, protof("bad status line %.40q", status)
		}
		resp := &response{status: n, reason: reason, header: map[string]string{}}
		for {
			h, err := line()
			if err != nil {
				return nil, err
			}
			if h == "" {
				break
			}
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return nil, protof("bad header line %.40q", h)
			}
			resp.header[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
		if n >= 100 && n < 200 {
			continue
		}
		if method == "HEAD" || n == 204 || n == 304 {
			return resp, nil
		}
		resp.body, err = readBody(br, resp.header, max)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

func readBody(br *bufio.Reader, h map[string]string, max int64) ([]byte, error) {
	tooBig := protof("response body larger than %d bytes", max)
	if strings.EqualFold(h["transfer-encoding"], "chunked") {
		var out []byte
		for {
			szLine, err := br.ReadString('\n')
			if err != nil {
				return nil, protof("chunked body: %v", err)
			}
			szText, _, _ := strings.Cut(strings.TrimSpace(szLine), ";")
			sz, err := strconv.ParseInt(szText, 16, 64)
			if err != nil || sz < 0 {
				return nil, protof("chunked body: bad chunk size %.20q", szText)
			}
			if sz == 0 {
				// Trailers, up to the blank line.
				for {
					t, err := br.ReadString('\n')
					if err != nil || strings.TrimRight(t, "\r\n") == "" {
						return out, nil
					}
				}
			}
			if int64(len(out))+sz > max {
				return nil, tooBig
			}
			chunk := make([]byte, sz)
			if _, err := io.ReadFull(br, chunk); err != nil {
				return nil, protof("chunked body: %v", err)
			}
			out = append(out, chunk...)
			if crlf, err := br.ReadString('\n'); err != nil || strings.TrimRight(crlf, "\r\n") != "" {
				return nil, protof("chunked body: missing CRLF after a chunk")
			}
		}
	}
	if cl, ok := h["content-length"]; ok {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return nil, protof("bad Content-Length %.20q", cl)
		}
		if n > max {
			return nil, tooBig
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, protof("body shorter than its Content-Length: %v", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(br, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, tooBig
	}
	return b, nil
}
