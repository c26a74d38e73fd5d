package seed

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// User is one Linux user, optionally also a Proxmox user.
type User struct {
	Name              string       `yaml:"name" json:"name"`
	PasswordHash      string       `yaml:"password_hash,omitempty" json:"password_hash,omitempty"` // crypt(3) or ! / *
	Groups            []string     `yaml:"groups,omitempty" json:"groups,omitempty"`
	Sudo              string       `yaml:"sudo,omitempty" json:"sudo,omitempty"` // "", "password" or "nopasswd"
	Shell             string       `yaml:"shell,omitempty" json:"shell,omitempty"`
	SSHAuthorizedKeys []string     `yaml:"ssh_authorized_keys,omitempty" json:"ssh_authorized_keys,omitempty"`
	Proxmox           *ProxmoxUser `yaml:"proxmox,omitempty" json:"proxmox,omitempty"`
	// System lets the seed manage root or a system account (UID below
	// 1000); without it such a name is refused.
	System bool `yaml:"system,omitempty" json:"system,omitempty"`
}

// BuiltinRoles are the roles every PVE 8 and 9 host has: pve-access-control
// src/PVE/AccessControl.pm create_roles() (the same 17 names in 8.2.2 and
// 9.1.1; the privileges differ: PVE 9 dropped VM.Monitor). The users
// module also checks the running host's `pveum role list`.
var BuiltinRoles = []string{"Administrator", "NoAccess", "PVEAdmin", "PVEAuditor", "PVEDatastoreAdmin", "PVEDatastoreUser",
	"PVEMappingAdmin", "PVEMappingUser", "PVEPoolAdmin", "PVEPoolUser", "PVESDNAdmin", "PVESDNUser", "PVESysAdmin",
	"PVETemplateUser", "PVEUserAdmin", "PVEVMAdmin", "PVEVMUser"}

// aclPathRE is pve-access-control (commit 5ccd07d) src/PVE/AccessControl.pm
// :1281-1319 check_path, which `pveum acl modify` applies
// (src/PVE/API2/ACL.pm:162-167) after normalize_path (AccessControl.pm
// :1263-1279 folds // and drops a trailing /; a seed must give the
// folded form, the one `pveum acl list` shows). [[:alnum:]] is ASCII
// here; reACLPath allows no other letters anyway.
var aclPathRE = sync.OnceValue(func() *regexp.Regexp {
	const an = `[A-Za-z0-9]`
	const id = `[A-Za-z0-9._-]+`
	return regexp.MustCompile(`^(/|/access|/access/groups|/access/groups/` + id + `|/access/realm|/access/realm/` + id +
		`|/nodes|/nodes/` + id + `|/pool|/pool/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+){0,2}` +
		`|/sdn|/sdn/controllers|/sdn/controllers/[A-Za-z0-9_-]+|/sdn/dns|/sdn/dns/` + an + `+|/sdn/fabrics|/sdn/fabrics/` + an + `+` +
		`|/sdn/ipams|/sdn/ipams/` + an + `+|/sdn/prefix-lists|/sdn/prefix-lists/` + an + `+|/sdn/route-maps|/sdn/route-maps/` + an + `+` +
		`|/sdn/zones|/sdn/zones/` + id + `|/sdn/zones/` + id + `/` + id + `|/sdn/zones/` + id + `/` + id + `/[1-9][0-9]{0,3}` +
		`|/storage|/storage/` + id + `|/vms|/vms/[1-9][0-9]{2,}|/mapping|/mapping/` + id + `|/mapping/` + id + `/` + id + `)$`)
})

// ACLPathOK reports whether Proxmox accepts p as an ACL path as written.
func ACLPathOK(p string) bool {
	return !strings.Contains(p, "//") && (p == "/" || !strings.HasSuffix(p, "/")) && aclPathRE().MatchString(p)
}

// MaxPVEUserID is the longest Proxmox user id NAME@REALM (pve-access-control
// src/PVE/Auth/Plugin.pm:121-133, verify_username, and the userid
// option's maxLength 64 at :150-157).
const MaxPVEUserID = 64

// ProxmoxUser makes the user NAME@realm in Proxmox with a role on a path.
type ProxmoxUser struct {
	Realm string `yaml:"realm,omitempty" json:"realm,omitempty"` // default pam
	Role  string `yaml:"role" json:"role"`
	Path  string `yaml:"path,omitempty" json:"path,omitempty"` // ACL path, default /
}

// Users is the users section: the list is the section.
type Users []User

// check holds the users section to its rules (the section table,
// sections.go, calls it for every section a seed has).
func (us Users) check(c *checker) {
	names := dups{}
	for i := range us {
		u := &us[i]
		up := index("users", i)
		if c.required(up+".name", u.Name) {
			c.pattern(up+".name", u.Name, reUser.match, "a user name (lowercase letter or _, then lowercase letters, digits, _ -; at most 32)")
			names.seen(c, up+".name", u.Name, "user")
			if SystemAccount(u.Name) && !u.System {
				c.errf(up+".name", "%q is a system account (root, or a UID below 1000): Phoenix would take it over; set system: true on this user if you mean it", u.Name)
			}
		}
		if u.PasswordHash != "" && !cryptHash(u.PasswordHash) {
			if strings.HasPrefix(u.PasswordHash, "$") {
				c.errf(up+".password_hash", "not a supported crypt hash: use yescrypt ($y$), SHA-512 ($6$) or SHA-256 ($5$): `mkpasswd -m yescrypt` or `openssl passwd -6`")
			} else {
				// Never echo the value: it is probably a plaintext password.
				c.errf(up+".password_hash", "looks like a plaintext password: give a crypt hash (make one with `mkpasswd -m yescrypt` or `openssl passwd -6`), or \"!\" to lock the password")
			}
		}
		for j, g := range u.Groups {
			if !reUser.match(g) {
				c.errf(index(up+".groups", j), "%q is not a group name", g)
			}
		}
		switch u.Sudo {
		case "", "password", "nopasswd":
		default:
			c.errf(up+".sudo", "%q is not a sudo mode: use password or nopasswd (or leave it out)", u.Sudo)
		}
		c.pattern(up+".shell", u.Shell, reAbsPath.match, "an absolute path to a shell")
		for j, k := range u.SSHAuthorizedKeys {
			if msg := sshKey(k); msg != "" {
				c.errf(index(up+".ssh_authorized_keys", j), "%s", msg)
			}
		}
		if px := u.Proxmox; px != nil {
			c.pattern(up+".proxmox.realm", px.Realm, reRealm.match, "a Proxmox realm (a letter, then letters, digits, . - _; 2..32 long; e.g. pam or pve)")
			realm := px.Realm
			if realm == "" {
				realm = "pam"
			}
			// pve-access-control src/PVE/Auth/Plugin.pm:121-133
			// (verify_username): NAME@REALM is 3..64 characters.
			if id := u.Name + "@" + realm; len(id) > MaxPVEUserID {
				c.errf(up+".name", "the Proxmox user %s is %d characters: Proxmox takes at most %d for NAME@REALM; shorten the name or the realm", id, len(id), MaxPVEUserID)
			}
			if c.required(up+".proxmox.role", px.Role) {
				if !reRole.match(px.Role) {
					c.pattern(up+".proxmox.role", px.Role, reRole.match, "a Proxmox role (e.g. Administrator)")
				} else if !slices.Contains(BuiltinRoles, px.Role) {
					hint := ""
					for _, r := range BuiltinRoles {
						if strings.EqualFold(r, px.Role) {
							hint = fmt.Sprintf(" (role names are case-sensitive: %s)", r)
						}
					}
					c.errf(up+".proxmox.role", "%q is not a built-in Proxmox role%s; Phoenix creates no roles, and a fresh PVE 8 or 9 has only %s", px.Role, hint, strings.Join(BuiltinRoles, ", "))
				}
			}
			c.pattern(up+".proxmox.path", px.Path, reACLPath.match, "an ACL path (e.g. / or /vms/100)")
			if px.Path != "" && reACLPath.match(px.Path) && !ACLPathOK(px.Path) {
				c.errf(up+".proxmox.path", "%q is not an ACL path Proxmox accepts: /, /vms[/ID], /storage[/ID], /pool[/NAME], /nodes[/NAME], /access[/groups/NAME|/realm/NAME], /sdn/..., /mapping/... (no trailing or double /)", px.Path)
			}
		}
	}
}
