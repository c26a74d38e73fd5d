package users

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/seed"
)

// FuzzRenderSudoers: a user name and sudo setting as a seed gives them are
// refused by validation or rendered into a sudoers.d rule that the real
// sudo parser (`visudo -c` to check it, `visudo -x` to export what it
// parsed as JSON) reads back as exactly one rule, for exactly that user,
// with a password asked unless the seed says nopasswd.
//
//	go test ./modules/users -run '^$' -fuzz '^FuzzRenderSudoers$' -parallel 1 -fuzztime 5m
func FuzzRenderSudoers(f *testing.F) {
	if _, err := exec.LookPath("visudo"); err != nil {
		f.Skip("visudo (sudo) not installed")
	}
	for _, s := range [][2]string{{"alice", "password"}, {"bob", "nopasswd"}, {"a.b", "password"}, {"ALL", "nopasswd"},
		{"x,y", "password"}, {"%admin", "password"}, {"u ALL=(ALL) NOPASSWD: ALL\nv", "password"}, {"_svc-1$", "nopasswd"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, sudo string) {
		doc := map[string]any{"version": 1, "users": []any{map[string]any{"name": name, "sudo": sudo}}}
		data, _ := json.Marshal(doc)
		s, err := seed.Load("seed.json", data)
		if err != nil {
			return // refused by validation
		}
		u := s.Users[0]
		file := filepath.Join(t.TempDir(), "phoenix-rule")
		if err := os.WriteFile(file, sudoRule(u.Name, u.Sudo), 0o440); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "visudo", "-c", "-q", "-f", file).CombinedOutput(); err != nil {
			t.Fatalf("visudo -c refuses the rule for %q: %v\n%s", u.Name, err, out)
		}
		out, err := exec.CommandContext(ctx, "visudo", "-x", "-", "-f", file).Output()
		if err != nil {
			t.Fatalf("visudo -x: %v", err)
		}
		var got struct {
			Specs []struct {
				Users []map[string]any `json:"User_List"`
				Hosts []map[string]any `json:"Host_List"`
				Cmnds []struct {
					Options  []map[string]any `json:"Options"`
					Commands []map[string]any `json:"Commands"`
				} `json:"Cmnd_Specs"`
			} `json:"User_Specs"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("visudo -x output: %v\n%s", err, out)
		}
		var raw map[string]any
		_ = json.Unmarshal(out, &raw)
		if len(raw) != 1 || len(got.Specs) != 1 {
			t.Fatalf("user %q: want one user spec and nothing else\n%s", u.Name, out)
		}
		spec := got.Specs[0]
		if len(spec.Users) != 1 || len(spec.Users[0]) != 1 || spec.Users[0]["username"] != u.Name {
			t.Fatalf("user %q reads back as %v\n%s", u.Name, spec.Users, out)
		}
		if len(spec.Cmnds) != 1 {
			t.Fatalf("user %q: %d command specs\n%s", u.Name, len(spec.Cmnds), out)
		}
		nopasswd := false
		for _, o := range spec.Cmnds[0].Options {
			if a, ok := o["authenticate"]; ok && a == false {
				nopasswd = true
			}
		}
		if nopasswd != (u.Sudo == "nopasswd") {
			t.Fatalf("user %q sudo %q: authenticate options %v\n%s", u.Name, u.Sudo, spec.Cmnds[0].Options, out)
		}
	})
}
