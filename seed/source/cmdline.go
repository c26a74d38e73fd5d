package source

import (
	"strings"
)

// cmdline is what Phoenix reads from the kernel command line.
type cmdline struct {
	seed    string // phoenix.seed= value: "/path", "label:NAME", a URL or "discover"
	disable bool   // phoenix.disable present
	// fingerprint and mode go with a URL seed (phoenix.seed.fingerprint=,
	// phoenix.seed.mode=). A token never goes on the command line: any
	// user can read /proc/cmdline.
	fingerprint, mode string
}

// parseCmdline reads phoenix.seed= and phoenix.disable from /proc/cmdline
// text. Quoted values ("phoenix.seed=\"/a b\"") are unquoted as the kernel
// does; the last phoenix.seed= wins, like every other kernel parameter.
func parseCmdline(text string) cmdline {
	var c cmdline
	for _, f := range splitCmdline(text) {
		k, v, hasV := strings.Cut(f, "=")
		switch k {
		case "phoenix.seed":
			if hasV {
				c.seed = v
			}
		case "phoenix.seed.fingerprint":
			c.fingerprint = v
		case "phoenix.seed.mode":
			c.mode = v
		case "phoenix.disable":
			// phoenix.disable=0 / =false re-enables, as with systemd's switches.
			c.disable = !hasV || !(v == "0" || v == "false" || v == "no")
		}
	}
	return c
}

// splitCmdline splits on whitespace outside double quotes and drops the
// quotes, as the kernel's next_arg does.
func splitCmdline(s string) []string {
	var out []string
	var b strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				out = append(out, b.String())
				b.Reset()
				have = false
			}
		default:
			b.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, b.String())
	}
	return out
}
