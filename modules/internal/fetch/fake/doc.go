// Package fake is a stateful stand-in for curl, for tests: it serves the
// files it was given, by URL, with curl's syntax and exit codes, and
// counts what it served. ParseArgs is shared with the nvidia fake's curl.
package fake
