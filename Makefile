# Phoenix build. `make demo` and `make test` are the two set-up commands; both
# install what they need (see deps).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/phoenix
# Debian packages the tests call for real (validators, image tools).
TEST_DEBS := file samba samba-common-bin sudo dosfstools mtools xorriso fdisk \
             openssh-client systemd shellcheck e2fsprogs util-linux passwd python3 kmod
# Extra packages for the comparison benchmarks.
BENCH_DEBS := cloud-init time hyperfine bc
# The package checks (packaging/): lintian, the shells the completions are for.
TEST_DEBS += lintian zsh fish man-db

.PHONY: all build test lint bench demo e2e clean deps gocheck deb

all: build

gocheck:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go 1.25+ (go.mod: go 1.25.0; https://go.dev/dl)"; exit 2; }

# deps installs the Debian packages the tests need, only those missing.
deps:
	@missing=""; for p in $(TEST_DEBS) $(EXTRA_DEBS); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root, or: sudo apt-get install$$missing"; exit 2; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: gocheck
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/phoenix
	@file $(BIN) | grep -q 'statically linked' || { file $(BIN); echo "error: $(BIN) is not statically linked"; exit 1; }

# ifupdown2 would take over this machine's networking if installed, so the
# network module's syntax check runs it from its extracted .deb.
IFUPDOWN2 := build/ifupdown2
$(IFUPDOWN2):
	@mkdir -p build/deb && cd build/deb && apt-get download -o APT::Sandbox::User=root ifupdown2 >/dev/null
	dpkg -x build/deb/ifupdown2_*.deb $(IFUPDOWN2)

# The NFS fuzz target reads what Phoenix renders back with the real
# exportfs (modules/nfs/testdata/exportfs.sh). Installing nfs-kernel-server
# would start an NFS server here, so it too runs from its extracted .deb.
NFSSERVER := build/nfs-kernel-server
$(NFSSERVER):
	@mkdir -p build/deb && cd build/deb && apt-get download -o APT::Sandbox::User=root nfs-kernel-server >/dev/null
	dpkg -x build/deb/nfs-kernel-server_*.deb $(NFSSERVER)

test: gocheck deps build $(IFUPDOWN2) $(NFSSERVER)
	$(GO) mod download
	PHOENIX_IFUPDOWN2=$(abspath $(IFUPDOWN2)) PHOENIX_EXPORTFS=$(abspath $(NFSSERVER))/usr/sbin/exportfs \
	  CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m ./...
	cd packaging && CGO_ENABLED=0 $(GO) test -count=1 -timeout 10m ./...

# The linters, pinned to exact versions. Not go.mod tool directives: both
# need Go 1.26 and newer x/sys and x/tools, which would raise go.mod's
# minimum Go and the binary's dependencies just to lint.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ERRORLINT := codeberg.org/polyfloyd/go-errorlint@v1.9.1

lint: gocheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd packaging && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(ERRORLINT) ./...

bench: gocheck build
	@$(MAKE) --no-print-directory deps EXTRA_DEBS="$(BENCH_DEBS)"
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@for s in testdata/bench/*.sh; do [ -f "$$s" ] && bash "$$s" || true; done

# The Debian package, build/phoenix_VERSION_amd64.deb (docs/packaging.md).
# packaging/ is its own Go module, so nfpm's dependencies stay out of
# phoenix's go.mod; like every module they come from the Go module proxy.
deb: build
	cd packaging && CGO_ENABLED=0 $(GO) run ./mkdeb -bin ../$(BIN) -version '$(VERSION)' -out ../build

clean:
	rm -rf bin build

# The VM end-to-end test and the demo live in testdata/vm (they need qemu,
# debootstrap and a cache under build/).
-include testdata/vm/vm.mk

ifeq ($(wildcard testdata/vm/vm.mk),)
demo: build
	$(BIN) validate docs/examples/seed.yaml
endif
