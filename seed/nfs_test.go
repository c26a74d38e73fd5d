package seed

import "testing"

// TestNFSClientsAndOptions: the one home of the exports rules (the nfs
// module calls SectionErr("nfs") instead of keeping its own copy).
func TestNFSClientsAndOptions(t *testing.T) {
	err := func(host string, opts ...string) error {
		s := &Seed{NFS: &NFS{Exports: []Export{{Path: "/srv/media", Clients: []ExportClient{{Host: host, Options: opts}}}}}}
		return s.SectionErr("nfs")
	}
	for _, ok := range []string{"*", "nas", "nas.example.com", "192.168.1.10", "192.168.1.0/24", "fd00::/64",
		"2001:db8::1", "*.example.com", "host?.lan", "@trusted"} {
		if e := err(ok); e != nil {
			t.Errorf("%q: %v", ok, e)
		}
	}
	// "-rw" after the path is read by exportfs as default options
	// (nfs-utils support/nfs/exports.c), not as a client.
	for _, bad := range []string{"192.168.1.0/33", "fd00::/129", "bad host", "-x", "-rw", "a(b)", "@", "host;rm", "999.1.1.1/8"} {
		if err(bad) == nil {
			t.Errorf("client %q accepted", bad)
		}
	}
	for _, ok := range [][]string{nil, {"rw", "sync", "no_subtree_check"}, {"ro", "all_squash", "anonuid=1000", "anongid=1000"},
		{"fsid=0", "crossmnt", "sec=krb5:krb5i"}, {"fsid=root"}, {"fsid=6f1d9a3c-0b1e-4c2a-9d8e-2f3a4b5c6d7e"}} {
		if e := err("*", ok...); e != nil {
			t.Errorf("%q: %v", ok, e)
		}
	}
	for _, bad := range [][]string{{"rw", "ro"}, {"sync", "async"}, {"rw", "rw"}, {"anonuid=x"}, {"nosuchopt"},
		{"sec=ntlm"}, {"rw=1"}, {"fsid=abc"}, {"fsid=nas.lan"}} {
		if err("*", bad...) == nil {
			t.Errorf("options %q accepted", bad)
		}
	}
}
