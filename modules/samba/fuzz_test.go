package samba_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/modules/samba"
	"github.com/phoenix-pve/phoenix/seed"
)

// FuzzRenderSmbConf: a share comment and the server string, as a seed
// gives them, are either refused by validation or rendered so that the
// real testparm reads back exactly that value (no line swallowed, no
// parameter injected).
//
//	go test ./modules/samba -run '^$' -fuzz FuzzRenderSmbConf -parallel 1 -fuzztime 5m
func FuzzRenderSmbConf(f *testing.F) {
	if _, err := exec.LookPath("testparm"); err != nil {
		f.Skip("testparm (samba-common-bin) not installed")
	}
	for _, s := range []string{"Media", `Lab NAS \`, "a\nvalid users = evil", "x ; y # z", "  padded  ", "tab\there", "[global]", "100%", "é ü"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, v string) {
		doc := map[string]any{"version": 1, "samba": map[string]any{
			"server_string": v,
			"shares":        []any{map[string]any{"name": "media", "path": "/srv/media", "comment": v}},
		}}
		data, _ := json.Marshal(doc)
		s, err := seed.Load("seed.json", data)
		if err != nil {
			return // refused by validation
		}
		// The value as the seed holds it (JSON turns invalid UTF-8 into
		// U+FFFD on the way).
		v = s.Samba.Shares[0].Comment
		conf, err := samba.Render(s.Samba)
		if err != nil {
			return // refused by the renderer
		}
		p := filepath.Join(dir, "smb.conf")
		if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "testparm", "-s", "--suppress-prompt", p).Output()
		if err != nil {
			t.Fatalf("testparm refuses the rendering of %q: %v\n%s", v, err, conf)
		}
		got := map[string]string{}
		section := ""
		for _, l := range strings.Split(string(out), "\n") {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "[") {
				section = t
				continue
			}
			if k, val, ok := strings.Cut(t, " = "); ok {
				got[section+k] = val
			}
		}
		if got["[media]comment"] != v {
			t.Fatalf("comment %q reads back as %q\n%s", v, got["[media]comment"], out)
		}
		if got["[global]server string"] != v {
			t.Fatalf("server string %q reads back as %q\n%s", v, got["[global]server string"], out)
		}
		if _, injected := got["[media]valid users"]; injected {
			t.Fatalf("%q injected a parameter", v)
		}
	})
}
