package bootstrap

import (
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// banner puts a short failure notice where an operator looks first: the
// login message (motd) and the console login prompt (issue).
func (e *engine) banner(module, msg string) {
	msg = firstLine(msg)
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	text := fmt.Sprintf("phoenix: %s failed: %s\nRun `phoenix status` for details; fix it, then `phoenix run` (or reboot).\n", module, msg)
	for _, p := range []string{MotdFile, IssueFile} {
		body := text
		if p == IssueFile {
			// agetty expands backslash escapes in issue files.
			body = strings.ReplaceAll(text, `\`, `\\`)
		}
		if _, err := host.WriteIfChanged(e.r, p, []byte(body), 0o644, host.Owner{}); err != nil {
			e.out.line("", prioErr, "banner: "+err.Error())
		}
	}
}

func (e *engine) removeBanner() {
	for _, p := range []string{MotdFile, IssueFile} {
		if err := removeIfExists(e.r, p); err != nil {
			e.out.line("", prioErr, "banner: "+err.Error())
		}
	}
}
