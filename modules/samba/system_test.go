package samba_test

import (
	"context"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/samba"
	"github.com/phoenix-pve/phoenix/seed"
)

// TestSystemAccountNoSambaPassword: the apply-time twin of validate's rule
// (seed.SystemAccount): an existing account with a system UID gets no
// Samba password unless users[] says system: true for it.
func TestSystemAccountNoSambaPassword(t *testing.T) {
	w := newWorld(t)
	if err := w.root.WriteFile("/etc/passwd", []byte("root:x:0:0::/root:/bin/bash\nsvc:x:999:999::/srv:/usr/sbin/nologin\n"), 0o644, host.Owner{}); err != nil {
		t.Fatal(err)
	}
	smb := &seed.Samba{
		Users:  []seed.SambaUser{{Name: "svc", NTHash: "8846f7eaee8fb117ad06bdd830b7586c"}},
		Shares: []seed.Share{{Name: "media", Path: "/tank/media"}},
	}
	_, err := modules.Apply(context.Background(), samba.New(), w.env(&seed.Seed{Version: 1, Samba: smb}))
	if err == nil || !strings.Contains(err.Error(), "system account") {
		t.Fatalf("want svc (UID 999) refused, got %v", err)
	}
	for _, c := range w.run.Calls() {
		if c.Name == samba.PdbeditCmd && strings.Contains(strings.Join(c.Args, " "), "-i") {
			t.Fatalf("a hash was imported: %v", c.Args)
		}
	}
	s := &seed.Seed{Version: 1, Users: []seed.User{{Name: "svc", System: true}}, Samba: smb}
	if _, err := modules.Apply(context.Background(), samba.New(), w.env(s)); err != nil && strings.Contains(err.Error(), "system account") {
		t.Fatalf("system: true should allow it: %v", err)
	}
}
