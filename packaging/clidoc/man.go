package clidoc

import (
	"fmt"
	"regexp"
	"strings"
)

// ManInfo is what a man page's header and closing sections say that the
// usage text does not.
type ManInfo struct {
	Version string // "phoenix 0.1.0", in the footer
	Date    string // "2026-12-01": the build's commit date, for reproducible pages
	Files   []ManFile
	SeeAlso []string // "phoenix-seed(5)"
}

// ManFile is one entry of the FILES section.
type ManFile struct{ Path, What string }

// esc escapes text for roff: backslashes, and a leading dot or quote that
// would make the line a request.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return lineStart(s)
}

func lineStart(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// lit is literal text (a command, a flag): also its hyphens are minus signs,
// so the text can be searched and copied.
func lit(s string) string { return strings.ReplaceAll(esc(s), "-", `\-`) }

// Man8 is phoenix(8): the synopsis and every verb, its synopsis lines and
// its flags, in the words of the binary's own usage text.
func (c CLI) Man8(info ManInfo, description string) string {
	var b strings.Builder
	up := strings.ToUpper(c.Name)
	fmt.Fprintf(&b, ".\\\" %s\n", generated)
	fmt.Fprintf(&b, ".TH %s 8 %q %q \"System Administration\"\n", up, info.Date, info.Version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", c.Name, esc(description))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n.I COMMAND\n.RI [ ARGS ...]\n", c.Name)
	b.WriteString(".SH COMMANDS\n")
	for _, v := range c.Verbs {
		fmt.Fprintf(&b, ".SS %s\n%s\n", lit(c.Name+" "+v.Name), esc(v.Summary))
		writeVerb(&b, v.Usage, v.Flags)
		for _, s := range v.Subs {
			fmt.Fprintf(&b, ".TP\n.B %s\n", lit(c.Name+" "+v.Name+" "+s.Name))
			writeVerb(&b, s.Usage, s.Flags)
		}
	}
	b.WriteString(".SH EXIT STATUS\n")
	b.WriteString("0 success; 1 the work or the input is bad (an invalid seed, a failed module); " +
		"2 a usage or I/O error. \\fBphoenix status\\fR exits 2 while provisioning is pending or running.\n")
	if len(info.Files) > 0 {
		b.WriteString(".SH FILES\n")
		for _, f := range info.Files {
			fmt.Fprintf(&b, ".TP\n.I %s\n%s\n", lit(f.Path), esc(f.What))
		}
	}
	if len(info.SeeAlso) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		var refs []string
		for _, r := range info.SeeAlso {
			name, sec, _ := strings.Cut(r, "(")
			refs = append(refs, fmt.Sprintf(".BR %s (%s", lit(name), sec))
		}
		b.WriteString(strings.Join(refs, " ,\n") + "\n")
	}
	return b.String()
}

func writeVerb(b *strings.Builder, usage []string, flags []Flag) {
	if len(usage) > 0 {
		b.WriteString(".PP\n.RS 4\n.nf\n")
		for _, u := range usage {
			b.WriteString(lit(u) + "\n")
		}
		b.WriteString(".fi\n.RE\n")
	}
	if len(flags) == 0 {
		return
	}
	b.WriteString(".RS 4\n")
	for _, f := range flags {
		if f.Arg != "" {
			// Bold flag, italic placeholder.
			fmt.Fprintf(b, ".TP\n.BI %s \" %s\"", lit(f.Dashed()), lit(f.Arg))
		} else {
			fmt.Fprintf(b, ".TP\n.B %s", lit(f.Dashed()))
		}
		fmt.Fprintf(b, "\n%s\n", esc(f.Usage))
	}
	b.WriteString(".RE\n")
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	bold     = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	italic   = regexp.MustCompile(`(^|[\s(])\*([^*\s][^*]*)\*`)
	link     = regexp.MustCompile(`\[([^\]]+)\]\(([^)]+)\)`)
	olItem   = regexp.MustCompile(`^(\d+)\. (.*)$`)
)

// inline converts Markdown's inline markup: code spans and bold to bold,
// emphasis to italics, links to their text (and the address, for one
// outside the page).
func inline(s string) string {
	// Code spans first, shielded from the other rules by a placeholder.
	var codes []string
	s = codeSpan.ReplaceAllStringFunc(s, func(m string) string {
		codes = append(codes, `\fB`+strings.ReplaceAll(strings.ReplaceAll(m[1:len(m)-1], `\`, `\e`), "-", `\-`)+`\fR`)
		return fmt.Sprintf("\x00%d\x00", len(codes)-1)
	})
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = link.ReplaceAllStringFunc(s, func(m string) string {
		sub := link.FindStringSubmatch(m)
		if strings.HasPrefix(sub[2], "http") {
			return sub[1] + " <" + sub[2] + ">"
		}
		return sub[1]
	})
	s = bold.ReplaceAllString(s, `\fB$1\fR`)
	s = italic.ReplaceAllString(s, `$1\fI$2\fR`)
	for i, c := range codes {
		s = strings.ReplaceAll(s, fmt.Sprintf("\x00%d\x00", i), c)
	}
	return lineStart(s)
}

func cells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(strings.TrimSuffix(row, "|"), "|")
	var out []string
	// A pipe inside a code span (`a|b`) is not a cell border.
	depth := false
	cur := ""
	for _, r := range row {
		switch {
		case r == '`':
			depth = !depth
			cur += string(r)
		case r == '|' && !depth:
			out = append(out, strings.TrimSpace(cur))
			cur = ""
		default:
			cur += string(r)
		}
	}
	return append(out, strings.TrimSpace(cur))
}

// Markdown converts a Markdown page (the subset docs/*.md use: headings,
// paragraphs, lists, tables, fenced code) to the body of a man page: the
// text before the first "##" becomes DESCRIPTION, each "##" a section and
// each "###" a subsection. A table becomes a tagged list: the first cell is
// the tag, the others the text.
func Markdown(md string) string {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	b.WriteString(".SH DESCRIPTION\n")
	para := false // inside a paragraph or list item: lines continue it
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "```"):
			b.WriteString(".PP\n.RS 4\n.nf\n")
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				b.WriteString(esc(lines[i]) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
			para = false
		case strings.HasPrefix(l, "# "):
			// The page title: the NAME line says it.
			para = false
		case strings.HasPrefix(l, "## "):
			fmt.Fprintf(&b, ".SH %s\n", strings.ToUpper(inline(strings.TrimPrefix(l, "## "))))
			para = false
		case strings.HasPrefix(l, "### "):
			fmt.Fprintf(&b, ".SS %s\n", inline(strings.TrimPrefix(l, "### ")))
			para = false
		case t == "":
			para = false
		case strings.HasPrefix(t, "|"):
			var rows [][]string
			for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
				rows = append(rows, cells(lines[i]))
			}
			i--
			// rows[0] is the header, rows[1] the |---| line.
			for _, r := range rows[min(2, len(rows)):] {
				tag := inline(r[0])
				if len(r) > 2 {
					tag += " (" + inline(strings.Join(r[1:len(r)-1], ", ")) + ")"
				}
				text := ""
				if len(r) > 1 {
					text = inline(r[len(r)-1])
				}
				fmt.Fprintf(&b, ".TP\n%s\n%s\n", tag, text)
			}
			para = false
		case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* "):
			fmt.Fprintf(&b, ".IP \\(bu 2\n%s\n", inline(t[2:]))
			para = true
		case olItem.MatchString(t):
			m := olItem.FindStringSubmatch(t)
			fmt.Fprintf(&b, ".IP %s. 4\n%s\n", m[1], inline(m[2]))
			para = true
		case strings.HasPrefix(t, "> "):
			fmt.Fprintf(&b, ".RS 4\n%s\n.RE\n", inline(t[2:]))
			para = false
		default:
			if !para {
				b.WriteString(".PP\n")
				para = true
			}
			b.WriteString(inline(t) + "\n")
		}
	}
	return b.String()
}

// Man5 is a section-5 page (file formats) made from a Markdown document.
func Man5(name, description string, info ManInfo, md string) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".\\\" Generated by packaging/clidoc from docs/seed.md; do not edit.\n")
	fmt.Fprintf(&b, ".TH %s 5 %q %q \"File Formats\"\n", strings.ToUpper(name), info.Date, info.Version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, esc(description))
	b.WriteString(Markdown(md))
	if len(info.SeeAlso) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		var refs []string
		for _, r := range info.SeeAlso {
			n, sec, _ := strings.Cut(r, "(")
			refs = append(refs, fmt.Sprintf(".BR %s (%s", lit(n), sec))
		}
		b.WriteString(strings.Join(refs, " ,\n") + "\n")
	}
	return b.String()
}
