package nfs_test

import (
	"encoding/json"
	"testing"

	"github.com/phoenix-pve/phoenix/modules/nfs"
	"github.com/phoenix-pve/phoenix/seed"
)

// FuzzRenderExports: an export path and client as a seed gives them are
// refused by validation, or rendered so that an exports(5) parser reads
// back the same path and client. The parser is the module's own
// ParseExports (nfs-utils' exportfs is not installable here); it follows
// nfs-utils support/nfs/exports.c (quotes, \ooo escapes, continuation).
//
//	go test ./modules/nfs -run '^$' -fuzz FuzzRenderExports -parallel 1 -fuzztime 5m
func FuzzRenderExports(f *testing.F) {
	for _, s := range [][2]string{{"/tank/media", "10.0.0.0/8"}, {"/srv/a b", "*"}, {`/srv/"q"`, "@g"}, {"/srv/x\\", "h"}, {"/srv/#c", "*.lan"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, host string) {
		doc := map[string]any{"version": 1, "nfs": map[string]any{"exports": []any{
			map[string]any{"path": p, "clients": []any{map[string]any{"host": host, "options": []string{"ro"}}}},
		}}}
		data, _ := json.Marshal(doc)
		s, err := seed.Load("seed.json", data)
		if err != nil {
			return
		}
		want, err := nfs.Build(s.NFS)
		if err != nil {
			return
		}
		got, err := nfs.ParseExports(nfs.Render(want))
		if err != nil {
			t.Fatalf("rendering of %q %q does not parse: %v\n%s", p, host, err, nfs.Render(want))
		}
		if len(got) != 1 || got[0].Path != want[0].Path || len(got[0].Clients) != 1 || got[0].Clients[0].Host != want[0].Clients[0].Host {
			t.Fatalf("%q %q reads back as %+v\n%s", p, host, got, nfs.Render(want))
		}
	})
}
