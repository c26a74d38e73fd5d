package migrate

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/seed"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func read(t *testing.T, p string) File {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: filepath.Base(p), Data: data}
}

func golden(t *testing.T, p, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./migrate -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./migrate -update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func reportText(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// TestSamples converts samples of both generations, written to match the
// originals' files (SirHeads/Testing-ideas 18ce242 and 829c047), checks the
// result against golden files and that it validates.
func TestSamples(t *testing.T) {
	for _, tc := range []struct{ dir, hyper, host string }{
		{"testdata/gen1", "hypervisor_config.json", ""},
		{"testdata/gen2", "phoenix_hypervisor_config.json", "pve1"},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			res, err := Convert([]File{read(t, filepath.Join(tc.dir, tc.hyper)), read(t, filepath.Join(tc.dir, "phoenix_lxc_configs.json"))}, Options{Hostname: tc.host})
			if err != nil {
				t.Fatal(err)
			}
			out, err := res.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := seed.Load("seed.yaml", out); err != nil {
				t.Fatalf("the converted seed does not validate:\n%v\n%s", err, out)
			}
			golden(t, filepath.Join(tc.dir, "seed.yaml.golden"), string(out))
			golden(t, filepath.Join(tc.dir, "report.golden"), reportText(res.Problems))

			s := res.Seed
			// Two pools, datasets with their storages.
			if len(s.ZFS.Pools) != 2 || len(s.ZFS.Datasets) != 6 || len(s.ZFS.Storages) != 4 {
				t.Errorf("pools %d, datasets %d, storages %d; want 2, 6, 4", len(s.ZFS.Pools), len(s.ZFS.Datasets), len(s.ZFS.Storages))
			}
			for _, p := range s.ZFS.Pools {
				if gen1 := tc.host == ""; p.External != gen1 {
					t.Errorf("pool %s external = %v: a pool listed by name only is external, one with disks is created", p.Name, p.External)
				}
			}
			if s.NFS == nil || len(s.NFS.Exports) == 0 || s.Samba == nil || len(s.Samba.Shares) != 2 {
				t.Errorf("NFS exports or Samba shares missing: %+v %+v", s.NFS, s.Samba)
			}
			// The chain 900 -> 901 -> 920, GPUs, features, health check.
			cts := s.LXC.Containers
			if cts["901"].CloneFrom == nil || cts["901"].CloneFrom.CTID != 900 || cts["920"].CloneFrom == nil || cts["920"].CloneFrom.CTID != 901 {
				t.Errorf("clone chain lost: 901 %+v, 920 %+v", cts["901"].CloneFrom, cts["920"].CloneFrom)
			}
			if !slicesEq(cts["920"].GPUs, []int{0, 1}) || cts["900"].GPUs != nil {
				t.Errorf("gpus: 900 %v, 920 %v", cts["900"].GPUs, cts["920"].GPUs)
			}
			if cts["920"].HealthCheck == nil || cts["920"].Provision == nil || cts["920"].Provision.Features[0] != "nvidia" {
				t.Errorf("920 lost its health check or features: %+v %+v", cts["920"].HealthCheck, cts["920"].Provision)
			}
			if !strings.Contains(reportText(res.Problems), `feature "vllm"`) {
				t.Error("the unknown feature vllm is not reported")
			}
		})
	}
}

func slicesEq(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSecretsNeverCopied: a plaintext password (where a hash belongs, or
// under any secret-looking key) is neither in the seed nor in the report.
func TestSecretsNeverCopied(t *testing.T) {
	const pw = "Hunter2-correct-horse"
	in := `{"users": {"username": "admin", "password_hash": "` + pw + `", "sudo_access": false},
	  "samba": {"user": "heads", "password": "` + pw + `", "shares": []},
	  "portainer_api": {"admin_password": "` + pw + `"},
	  "zfs": {"pools": [{"name": "tank"}]}}`
	res, err := Convert([]File{{Name: "phoenix_hypervisor_config.json", Data: []byte(in)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.YAML()
	if err != nil {
		t.Fatal(err)
	}
	rep := reportText(res.Problems)
	if strings.Contains(string(out), pw) || strings.Contains(rep, pw) {
		t.Fatalf("the password leaked:\n%s\n%s", out, rep)
	}
	for _, p := range []string{"users.password_hash", "samba.password", "portainer_api"} {
		if !strings.Contains(rep, "phoenix_hypervisor_config.json: "+p+":") {
			t.Errorf("report does not name %s:\n%s", p, rep)
		}
	}
	if _, err := seed.Load("seed.yaml", out); err != nil {
		t.Errorf("does not validate: %v\n%s", err, out)
	}
}

// TestNothingLost: a config whose every key has a seed key reports nothing.
func TestNothingLost(t *testing.T) {
	in := `{"zfs": {"arc_max_gb": 16, "pools": [{"name": "tank", "raid_level": "mirror",
	    "disks": ["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]}],
	  "datasets": [{"name": "vm", "pool": "tank", "properties": "compression=lz4",
	    "proxmox_storage_type": "zfspool", "proxmox_content_type": "images,rootdir"}]},
	  "nfs": {"exports": [{"path": "/tank/vm", "clients": ["10.0.0.0/24"], "options": ["rw", "sync"]}]},
	  "timezone": "Europe/Berlin", "version": "1.0.0", "author": "me"}`
	res, err := Convert([]File{{Name: "phoenix_hypervisor_config.json", Data: []byte(in)}}, Options{Hostname: "pve1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 0 {
		t.Errorf("problems reported:\n%s", reportText(res.Problems))
	}
	out, _ := res.YAML()
	if _, err := seed.Load("seed.yaml", out); err != nil {
		t.Errorf("does not validate: %v\n%s", err, out)
	}
	if res.Seed.Host == nil || res.Seed.Host.Timezone != "Europe/Berlin" || res.Seed.ZFS.Storages[0].ID != "tank-vm" {
		t.Errorf("not carried over:\n%s", out)
	}
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{"", "[1]", "{", `{"a": 1} trailing`} {
		if _, err := Convert([]File{{Name: "x.json", Data: []byte(in)}}, Options{}); err == nil && in != `{"a": 1} trailing` {
			t.Errorf("Convert(%q) succeeded", in)
		}
	}
	if _, err := Convert(nil, Options{}); err == nil {
		t.Error("Convert(no files) succeeded")
	}
}
