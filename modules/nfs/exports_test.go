package nfs

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseExports(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Entry
	}{
		{"admin file", `# /etc/exports: the access control list for filesystems
/srv/homes       hostname1(rw,sync,no_subtree_check) hostname2(ro,sync,no_subtree_check)
/srv/nfs4        gss/krb5i(rw,sync,fsid=0,crossmnt,no_subtree_check)
"/srv/with space" 10.0.0.0/8(ro)  # trailing comment
/srv/oct\040al   @trusted(rw) *.lan(ro)
/srv/cont \
   192.168.1.0/255.255.255.0(rw)
/srv/default     (ro)
`, []Entry{
			{"/srv/homes", []Client{{"hostname1", []string{"rw", "sync", "no_subtree_check"}}, {"hostname2", []string{"ro", "sync", "no_subtree_check"}}}},
			{"/srv/nfs4", []Client{{"gss/krb5i", []string{"rw", "sync", "fsid=0", "crossmnt", "no_subtree_check"}}}},
			{"/srv/with space", []Client{{"10.0.0.0/8", []string{"ro"}}}},
			{"/srv/oct al", []Client{{"@trusted", []string{"rw"}}, {"*.lan", []string{"ro"}}}},
			{"/srv/cont", []Client{{"192.168.1.0/255.255.255.0", []string{"rw"}}}},
			{"/srv/default", []Client{{"*", []string{"ro"}}}},
		}},
		{"exportfs -v", "/srv/a         \t192.168.1.0/24(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)\n" +
			"/srv/a         \t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n" +
			"/tank/media/films\n\t\t10.0.0.5(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n",
			[]Entry{
				{"/srv/a", []Client{{"192.168.1.0/24", strings.Split("sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash", ",")}}},
				{"/srv/a", []Client{{"*", strings.Split("sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash", ",")}}},
				{"/tank/media/films", []Client{{"10.0.0.5", strings.Split("sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash", ",")}}},
			}},
		{"empty", "\n# nothing\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExports(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"relative (rw)\n", "/x host(rw\n", `"/x host(rw)` + "\n"} {
		if _, err := ParseExports(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRenderRoundTrip(t *testing.T) {
	in := []Entry{
		{"/tank/share", []Client{{"192.168.1.0/24", []string{"rw", "sync"}}, {"*", []string{"ro"}}}},
		{"/srv/odd name#x\\", []Client{{"@ng", []string{"ro"}}}},
	}
	text := Render(in)
	if !strings.Contains(text, `/srv/odd\040name\043x\134 @ng(ro)`) {
		t.Errorf("escaping: %q", text)
	}
	out, err := ParseExports(text)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("round trip: %+v %v", out, err)
	}
}
