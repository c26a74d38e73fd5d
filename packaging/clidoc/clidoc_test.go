package clidoc

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The texts are what Go's flag package and phoenix's verbs print.
const helpText = `usage: phoenix COMMAND [ARGS...]

commands:
  bake               bake hook -o FILE: write the Proxmox installer first-boot hook
  seed               seed locate|build|sign|verify: find, pack and sign seeds
  validate           check seed files and report every problem
`

const validateHelp = `usage: phoenix validate [--format text|json] FILE...
exit status: 0 valid, 1 invalid, 2 usage or I/O error
  -format FORMAT
    	output FORMAT: text or json (default "text")
`

const seedHelp = `usage:
  phoenix seed build -o OUT [--iso|--fat|--usb] [--fat-type 12|16|32] seed.yaml [FILE...]
  phoenix seed sign [-k KEY] seed.yaml
`

const seedBuildHelp = `Usage of phoenix seed build:
  -fat
    	bare FAT image (no partition table)
  -fat-type int
    	force FAT12, 16 or 32 (default: by size)
  -o OUT
    	write the image to OUT
` + seedHelp

const seedSignHelp = "Usage of phoenix seed sign:\n  -k KEY\n    \tprivate KEY file (default \"/root/.ssh/id_ed25519\")\n" + seedHelp

const bakeHelp = "usage: phoenix bake hook -o FILE\n"
const bakeHookHelp = "Usage of bake hook:\n  -o string\n    \twrite the hook to FILE (- for stdout)\n" + bakeHelp

func fakeRunner(ctx context.Context, args ...string) ([]byte, error) {
	out := map[string]string{
		"help": helpText, "validate -h": validateHelp, "seed -h": seedHelp,
		"seed build -h": seedBuildHelp, "seed sign -h": seedSignHelp,
		"bake -h": bakeHelp, "bake hook -h": bakeHookHelp,
	}[strings.Join(args, " ")]
	if out == "" {
		return nil, fmt.Errorf("unexpected %q", args)
	}
	return []byte(out), nil
}

func TestRead(t *testing.T) {
	cli, err := Read(context.Background(), "phoenix", fakeRunner)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range cli.Verbs {
		got = append(got, v.Name)
		for _, s := range v.Subs {
			got = append(got, v.Name+" "+s.Name)
		}
	}
	if want := []string{"bake", "bake hook", "seed", "seed build", "seed sign", "validate"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("verbs = %q, want %q", got, want)
	}
	val := cli.Verbs[2]
	if len(val.Flags) != 1 || val.Flags[0].Name != "format" || val.Flags[0].Arg != "FORMAT" ||
		!reflect.DeepEqual(val.Flags[0].Choices, []string{"text", "json"}) {
		t.Errorf("validate flags = %+v", val.Flags)
	}
	build := cli.Verbs[1].Subs[0]
	want := []Flag{
		{Name: "fat", Usage: "bare FAT image (no partition table)"},
		{Name: "fat-type", Arg: "int", Usage: "force FAT12, 16 or 32 (default: by size)", Choices: []string{"12", "16", "32"}},
		{Name: "o", Arg: "OUT", Usage: "write the image to OUT"},
	}
	if !reflect.DeepEqual(build.Flags, want) {
		t.Errorf("seed build flags = %+v, want %+v", build.Flags, want)
	}
	if len(build.Usage) != 1 || !strings.HasPrefix(build.Usage[0], "phoenix seed build -o OUT") {
		t.Errorf("seed build usage = %q", build.Usage)
	}
	if f := build.Flags[2]; f.Dashed() != "-o" || f.ValueKind() != "file" {
		t.Errorf("-o: %q %q", f.Dashed(), f.ValueKind())
	}
	if f := cli.Verbs[0].Subs[0].Flags[0]; f.Arg != "string" || f.ValueKind() != "" {
		t.Errorf("bake hook -o = %+v (kind %q): a plain string has no completion kind", f, f.ValueKind())
	}
}

func TestMarkdown(t *testing.T) {
	md := "# Title\n\nSome *text* with `code-x` and [a link](#x) and [out](https://e.x/).\n\n" +
		"## Top level\n\n| Key | Type | Meaning |\n|---|---|---|\n| `version` | integer | The `a|b` version. |\n\n" +
		"- one\n  continued\n- .two\n\n```yaml\n.dot: 1\nback\\slash\n```\n\n### Sub\n\n1. first\n"
	got := Markdown(md)
	for _, want := range []string{
		".SH DESCRIPTION\n.PP\nSome \\fItext\\fR with \\fBcode\\-x\\fR and a link and out <https://e.x/>.\n",
		".SH TOP LEVEL\n.TP\n\\fBversion\\fR (integer)\nThe \\fBa|b\\fR version.\n",
		".IP \\(bu 2\none\ncontinued\n.IP \\(bu 2\n\\&.two\n",
		".nf\n\\&.dot: 1\nback\\eslash\n.fi\n",
		".SS Sub\n.IP 1. 4\nfirst\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Title") {
		t.Error("the page title is repeated in the body")
	}
}
