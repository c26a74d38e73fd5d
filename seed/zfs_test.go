package seed

import "testing"

func TestMountpoint(t *testing.T) {
	s := &Seed{ZFS: &ZFS{
		Pools: []Pool{{Name: "tank"}, {Name: "fast", Mountpoint: "/fast"}, {Name: "np", Mountpoint: "none"}},
		Datasets: []Dataset{
			{Name: "tank/media", Mountpoint: "/srv/media"},
			{Name: "tank/media/films"},
			{Name: "tank/vm"},
		},
	}}
	for ds, want := range map[string]string{
		"tank": "/tank", "tank/vm": "/tank/vm", "tank/media": "/srv/media",
		"tank/media/films": "/srv/media/films", "tank/media/films/new": "/srv/media/films/new",
		"fast/x": "/fast/x", "np/y": "", "other/z": "/other/z",
	} {
		if got := s.Mountpoint(ds); got != want {
			t.Errorf("Mountpoint(%s) = %q, want %q", ds, got, want)
		}
	}
}

func TestDatasetAt(t *testing.T) {
	s := &Seed{ZFS: &ZFS{
		Pools:    []Pool{{Name: "tank"}},
		Datasets: []Dataset{{Name: "tank/media", Mountpoint: "/srv/media"}, {Name: "tank/vm"}},
	}}
	for p, want := range map[string]string{
		"/srv/media": "tank/media", "/srv/media/films": "tank/media", "/tank/vm/x": "tank/vm",
		"/tank/other": "tank", "/mnt/pve/tank-media": "", "/srv/mediax": "",
	} {
		if got := s.DatasetAt(p); got != want {
			t.Errorf("DatasetAt(%s) = %q, want %q", p, got, want)
		}
	}
}
