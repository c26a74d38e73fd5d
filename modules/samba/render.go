package samba

import (
	"fmt"
	"sort"
	"strings"

	"github.com/phoenix-pve/phoenix/seed"
)

// Render is the content of /etc/samba/phoenix.conf for the seed: a
// [global] section with Phoenix's fixed settings, the workgroup, server
// string and the seed's extra globals, then one section per share.
func Render(sb *seed.Samba) (string, error) {
	var b strings.Builder
	b.WriteString("# Managed by phoenix from the seed's samba section; edits here are overwritten.\n")
	b.WriteString("# Included at the end of " + SmbConf + "; put your own settings there.\n")
	b.WriteString("[global]\n")
	kv := func(k, v string) error {
		if strings.ContainsAny(k+v, "\n\r\x00") || strings.ContainsAny(k, "[]=") {
			return fmt.Errorf("%q: values must be one line", k)
		}
		// The twin of validate's rule: a trailing backslash continues
		// the line, swallowing the next setting (security review L2).
		if !seed.SmbValueSafe(v) {
			return fmt.Errorf("%q: value must not end with a backslash or hold control characters", k)
		}
		fmt.Fprintf(&b, "   %s = %s\n", k, v)
		return nil
	}
	wg := sb.Workgroup
	if wg == "" {
		wg = "WORKGROUP"
	}
	globals := [][2]string{
		{"workgroup", wg},
		{"server role", "standalone server"},
		{"passdb backend", "tdbsam"},
		{"server min protocol", "SMB2"},
	}
	if sb.ServerString != "" {
		globals = append(globals, [2]string{"server string", sb.ServerString})
	}
	for _, sh := range sb.Shares {
		if sh.GuestOK {
			// Guests need a mapping, or smbd refuses them.
			globals = append(globals, [2]string{"map to guest", "bad user"})
			break
		}
	}
	fixed := map[string]bool{}
	for _, g := range globals {
		fixed[g[0]] = true
	}
	var extra []string
	for k := range sb.Global {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		lk := strings.ToLower(strings.Join(strings.Fields(k), " "))
		if fixed[lk] && lk != "map to guest" {
			return "", fmt.Errorf("global %q is set by Phoenix; use the seed's dedicated key", k)
		}
		if lk == "map to guest" {
			for i := range globals {
				if globals[i][0] == lk {
					globals = append(globals[:i], globals[i+1:]...)
					break
				}
			}
		}
	}
	for _, g := range globals {
		if err := kv(g[0], g[1]); err != nil {
			return "", err
		}
	}
	for _, k := range extra {
		if err := kv(k, sb.Global[k]); err != nil {
			return "", err
		}
	}
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	for _, sh := range sb.Shares {
		if sh.Name == "" || strings.ContainsAny(sh.Name, "[]\n\r\x00") || strings.EqualFold(sh.Name, "global") {
			return "", fmt.Errorf("share %q: not a usable share name", sh.Name)
		}
		if !strings.HasPrefix(sh.Path, "/") {
			return "", fmt.Errorf("share %q: path %q is not absolute", sh.Name, sh.Path)
		}
		fmt.Fprintf(&b, "\n[%s]\n", sh.Name)
		browseable := sh.Browseable == nil || *sh.Browseable
		lines := [][2]string{{"path", sh.Path}}
		if sh.Comment != "" {
			lines = append(lines, [2]string{"comment", sh.Comment})
		}
		lines = append(lines,
			[2]string{"read only", yes(sh.ReadOnly)},
			[2]string{"browseable", yes(browseable)},
			[2]string{"guest ok", yes(sh.GuestOK)})
		if len(sh.ValidUsers) > 0 {
			lines = append(lines, [2]string{"valid users", strings.Join(sh.ValidUsers, " ")})
		}
		if sh.CreateMask != "" {
			lines = append(lines, [2]string{"create mask", sh.CreateMask})
		}
		if sh.DirectoryMask != "" {
			lines = append(lines, [2]string{"directory mask", sh.DirectoryMask})
		}
		for _, l := range lines {
			if err := kv(l[0], l[1]); err != nil {
				return "", fmt.Errorf("share %q: %w", sh.Name, err)
			}
		}
	}
	return b.String(), nil
}
