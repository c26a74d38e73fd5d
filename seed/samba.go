package seed

import (
	"maps"
	"slices"
	"strings"
)

// Samba is a standalone Samba server.
type Samba struct {
	Workgroup    string            `yaml:"workgroup,omitempty" json:"workgroup,omitempty"`
	ServerString string            `yaml:"server_string,omitempty" json:"server_string,omitempty"`
	Global       map[string]string `yaml:"global,omitempty" json:"global,omitempty"` // extra [global] settings
	Users        []SambaUser       `yaml:"users,omitempty" json:"users,omitempty"`
	Shares       []Share           `yaml:"shares,omitempty" json:"shares,omitempty"`
}

// SambaUser is a tdbsam user. Exactly one of NTHash and PasswordFile is set.
type SambaUser struct {
	Name         string `yaml:"name" json:"name"`
	NTHash       string `yaml:"nt_hash,omitempty" json:"nt_hash,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
}

// Share is one Samba share.
type Share struct {
	Name          string   `yaml:"name" json:"name"`
	Path          string   `yaml:"path" json:"path"`
	Comment       string   `yaml:"comment,omitempty" json:"comment,omitempty"`
	ReadOnly      bool     `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Browseable    *bool    `yaml:"browseable,omitempty" json:"browseable,omitempty"` // default true
	GuestOK       bool     `yaml:"guest_ok,omitempty" json:"guest_ok,omitempty"`
	ValidUsers    []string `yaml:"valid_users,omitempty" json:"valid_users,omitempty"` // names or @group
	CreateMask    string   `yaml:"create_mask,omitempty" json:"create_mask,omitempty"`
	DirectoryMask string   `yaml:"directory_mask,omitempty" json:"directory_mask,omitempty"`
	Owner         string   `yaml:"owner,omitempty" json:"owner,omitempty"` // user[:group] of the share directory
	Mode          string   `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// smbValue checks a value written into smb.conf (SmbValueSafe).
func (c *checker) smbValue(path, v string) {
	switch {
	case !plain(v):
		c.errf(path, "must not contain control characters or line breaks")
	case strings.HasSuffix(v, `\`):
		c.errf(path, "must not end with a backslash: smb.conf reads it as a line continuation and joins the next line into this value")
	case strings.TrimSpace(v) != v:
		c.errf(path, "must not start or end with a blank: smb.conf trims it, so the value would not be what the seed says")
	case strings.Contains(v, "  "):
		c.errf(path, "must not contain two blanks in a row: Samba reads them as one, so the value would not be what the seed says")
	}
}

// check holds the samba section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (s *Samba) check(c *checker) {
	c.pattern("samba.workgroup", s.Workgroup, reWorkgroup.match, "a NetBIOS workgroup (at most 15 letters, digits, _ . ! -)")
	c.smbValue("samba.server_string", s.ServerString)
	for _, k := range slices.Sorted(maps.Keys(s.Global)) {
		p := join("samba.global", k)
		lk := strings.Join(strings.Fields(strings.ToLower(k)), " ")
		switch {
		case !reSmbKey.match(k):
			c.errf(p, "%q is not a Samba parameter name", k)
		case lk == "workgroup" || lk == "server string":
			c.errf(p, "set %s with samba.%s, not in global", lk, strings.ReplaceAll(lk, " ", "_"))
		}
		c.smbValue(p, s.Global[k])
	}
	users := dups{}
	for i, u := range s.Users {
		up := index("samba.users", i)
		if c.required(up+".name", u.Name) {
			c.pattern(up+".name", u.Name, reUser.match, "a user name")
			users.seen(c, up+".name", u.Name, "samba user")
			if SystemAccount(u.Name) && !c.s.SystemAllowed(u.Name) {
				c.errf(up+".name", "%q is a system account (root, or a UID below 1000): a Samba password would open it over SMB; list it in users with system: true if you mean it", u.Name)
			}
		}
		hasHash, hasFile := c.has(up+".nt_hash"), c.has(up+".password_file")
		switch {
		case !hasHash && !hasFile:
			c.errf(up, "give nt_hash or password_file")
		case hasHash && hasFile:
			c.errf(up+".password_file", "nt_hash and password_file are exclusive: give one")
		}
		if u.NTHash != "" && !reNTHash.match(u.NTHash) {
			c.errf(up+".nt_hash", "not an NT hash: 32 hex digits (never a plaintext password)")
		}
		if u.PasswordFile != "" && !relPath(u.PasswordFile) && !reAbsPath.match(u.PasswordFile) {
			c.errf(up+".password_file", "%q is not a file path (absolute on the host, or relative to the seed volume)", u.PasswordFile)
		}
	}
	seedUsers := map[string]bool{}
	for _, u := range c.s.Users {
		seedUsers[u.Name] = true
	}
	shares := dups{}
	for i, sh := range s.Shares {
		sp := index("samba.shares", i)
		if c.required(sp+".name", sh.Name) {
			switch ln := strings.ToLower(sh.Name); {
			case !reShare.match(sh.Name):
				c.errf(sp+".name", "%q is not a share name (at most 80 letters, digits, spaces, _ . $ -)", sh.Name)
			case ln == "global" || ln == "homes" || ln == "printers":
				c.errf(sp+".name", "%q is a reserved Samba section", sh.Name)
			}
			shares.seen(c, sp+".name", strings.ToLower(sh.Name), "share")
		}
		if c.required(sp+".path", sh.Path) {
			c.pattern(sp+".path", sh.Path, reAbsPath.match, "an absolute path without spaces")
			c.pathCheck(sp+".path", sh.Path, false)
			c.smbValue(sp+".path", sh.Path)
		}
		c.smbValue(sp+".comment", sh.Comment)
		for j, v := range sh.ValidUsers {
			vp := index(sp+".valid_users", j)
			if g, isGroup := strings.CutPrefix(v, "@"); isGroup {
				if !reUser.match(g) {
					c.errf(vp, "%q is not a group name", g)
				}
				continue
			}
			if !reUser.match(v) {
				c.errf(vp, "%q is not a user name (or @group)", v)
			} else if users[v] == "" && !seedUsers[v] {
				c.errf(vp, "user %q is not declared in samba.users or users", v)
			}
		}
		c.pattern(sp+".create_mask", sh.CreateMask, reMode.match, "an octal mask such as \"0664\" (quote it)")
		c.pattern(sp+".directory_mask", sh.DirectoryMask, reMode.match, "an octal mask such as \"0775\" (quote it)")
		c.pattern(sp+".owner", sh.Owner, reOwner.match, "an owner (user or user:group)")
		c.pattern(sp+".mode", sh.Mode, reMode.match, "an octal mode such as \"0775\" (quote it)")
	}
}
