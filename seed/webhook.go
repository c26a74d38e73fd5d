package seed

import (
	"encoding/hex"
	"strings"
)

// Webhook is the report section: where Phoenix posts a run's outcome when
// the run ends (done, failed or rebooting), like the automated installer's
// [post-installation-webhook]. It is not a module: posting never changes
// the host and never fails the run.
type Webhook struct {
	URL         string `yaml:"url" json:"url"`
	TokenFile   string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	Fingerprint string `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"`
}

func (c *checker) webhook(w *Webhook) {
	if w == nil {
		return
	}
	switch {
	case !c.required("report.url", w.URL):
	case URLCredentials(w.URL) || strings.Contains(w.URL, "@"):
		// Never echoed: user:password@ would land in the report.
		c.errf("report.url", "holds credentials (user:password@ before the host); they would end up in logs and status: give them as token_file (value not shown)")
	case !httpURL(w.URL) || strings.Contains(w.URL, "@") || strings.Contains(w.URL, "#"):
		c.errf("report.url", "%q is not an http(s) URL without credentials or fragment", w.URL)
	case strings.HasPrefix(w.URL, "http://") && w.TokenFile != "":
		c.errf("report.url", "a token is never sent over plain http: use https")
	}
	if w.TokenFile != "" && !reAbsPath.match(w.TokenFile) {
		c.errf("report.token_file", "%q is not an absolute path on the host", w.TokenFile)
	}
	if w.Fingerprint != "" {
		if !fingerprint(w.Fingerprint) {
			c.errf("report.fingerprint", "%q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", w.Fingerprint)
		} else if strings.HasPrefix(w.URL, "http://") {
			c.errf("report.fingerprint", "a fingerprint pins an https certificate; the URL is plain http")
		}
	}
}

// fingerprint is a SHA-256 in hex, with or without colons between bytes.
func fingerprint(s string) bool {
	h := strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == 32
}
