// Command mkdeb builds Phoenix's Debian package: `make deb` runs it as
//
//	cd packaging && go run ./mkdeb -bin ../bin/phoenix -version VERSION -out ../build
//
// It downloads nothing: nfpm and its dependencies come through the Go
// module proxy like every other module, pinned in packaging/go.mod.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/packaging/deb"
)

func main() {
	bin := flag.String("bin", "../bin/phoenix", "the built phoenix `FILE`")
	version := flag.String("version", "", "the build's `VERSION` (git describe --tags --always --dirty)")
	out := flag.String("out", "../build", "write the .deb into `DIR`")
	repo := flag.String("repo", "..", "the repository root `DIR`")
	flag.Parse()
	if err := run(*bin, *version, *out, *repo); err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
}

func run(bin, version, out, repo string) error {
	ctx := context.Background()
	date, err := buildDate(repo)
	if err != nil {
		return err
	}
	if version == "" {
		version = "dev"
	}
	work, err := os.MkdirTemp("", "phoenix-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	maint := os.Getenv("DEBFULLNAME")
	if maint != "" && os.Getenv("DEBEMAIL") != "" {
		maint += " <" + os.Getenv("DEBEMAIL") + ">"
	} else {
		maint = ""
	}
	path, err := deb.Build(ctx, deb.Options{
		Repo: abs(repo), Binary: abs(bin), Version: version, Date: date,
		OutDir: abs(out), Maintainer: maint, Work: work,
	})
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// buildDate is SOURCE_DATE_EPOCH (reproducible-builds.org) or the last
// commit's date, so two builds of one commit give the same package.
func buildDate(repo string) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	o, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%ct").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("git log (set SOURCE_DATE_EPOCH outside a git checkout): %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(o)), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0).UTC(), nil
}
