// Package fetch downloads a file with curl, run through a host.Runner, and
// keeps it only once its SHA-256 matches: the nvidia module uses it for
// driver runfiles, the lxc module for template_url.
//
// Downloading through curl rather than net/http keeps the HTTP client, TLS
// and their package init out of the phoenix binary, which starts at every
// boot (see docs/perf/seed.md), and lets tests stand a fake curl in for the
// network.
package fetch
