package fake

import (
	"slices"
	"strings"
	"testing"
)

func TestRoles(t *testing.T) {
	// PVE 9 dropped VM.Monitor (pve-access-control 9.0); both majors have
	// the same 17 built-in roles.
	if !slices.Contains(builtin[8].Privs, "VM.Monitor") || slices.Contains(builtin[9].Privs, "VM.Monitor") {
		t.Error("VM.Monitor: want it in PVE 8 only")
	}
	if !slices.Equal(Roles(8), Roles(9)) || len(Roles(9)) != 17 {
		t.Errorf("roles 8 %v, 9 %v", Roles(8), Roles(9))
	}
	p := New(t.TempDir())
	out, errOut, code := p.run(strings.Fields("role list --output-format json"))
	if code != 0 || !strings.Contains(out, `"roleid":"PVEVMAdmin"`) || strings.Contains(out, "VM.Monitor") {
		t.Errorf("role list: %d %q %q", code, out, errOut)
	}
}

func TestPveumRejects(t *testing.T) {
	p := New(t.TempDir())
	if _, e, code := p.run(strings.Fields("user add alice@pam")); code != 0 {
		t.Fatalf("user add: %s", e)
	}
	calls := []struct{ args, stderr string }{
		{"frob", "ERROR: unknown command 'pveum frob'"},
		{"user", "ERROR: incomplete command 'pveum user'"},
		{"user add alice@pam --bogus 1", "Unknown option: bogus"},
		{"user add alice", "userid: invalid format - value 'alice' does not look like a valid user name"},
		{"user add ab", "userid: invalid format - user name 'ab' is too short"},
		{"user add " + strings.Repeat("a", 61) + "@pam", "is too long (65 > 64)"}, // format is checked before maxLength (JSONSchema.pm:1628-1646),
		{"user add alice@pam", "create user failed: user 'alice@pam' already exists"},
		{"user add bob@pam --enable maybe", "400 unable to parse boolean option"},
		{"user add bob@pam --expire -1", "expire: value must have a minimum value of 0"},
		{"user list --output-format xml", "output-format: value 'xml' does not have a value in the enumeration"},
		{"acl modify / --users alice@pam", "roles: property is missing and it is not optional"},
		{"acl modify / --users alice@pam --roles Admin!strator", "roles: invalid format - role name 'Admin!strator' contains invalid characters"},
		{"acl modify / --users alice@pam --roles Wizard", "role 'Wizard' does not exist"},
		{"acl modify / --users nobody@pam --roles PVEAuditor", "user 'nobody@pam' does not exist"},
		{"acl modify vms --users alice@pam --roles PVEAuditor", "path: invalid ACL path 'vms'"},
		{"acl modify / --users alice@pam --roles PVEAuditor --propagate 2", "400 unable to parse boolean option"},
	}
	before := p.Dump()
	for _, c := range calls {
		_, errOut, code := p.run(strings.Fields(c.args))
		if code != 255 || !strings.Contains(errOut, c.stderr) {
			t.Errorf("pveum %s: exit %d, stderr %q; want 255 and %q", c.args, code, errOut, c.stderr)
		}
	}
	if p.Dump() != before {
		t.Errorf("a refused call changed the state: %s", p.Dump())
	}
	t.Logf("pveum: %d rejected calls refused", len(calls))
}
