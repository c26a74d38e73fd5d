#!/bin/sh
# Regenerates contract.json from a proxmox/pve-docs checkout:
#   git clone https://git.proxmox.com/git/pve-docs.git   (or github.com/proxmox/pve-docs)
#   git -C pve-docs checkout <commit of the wanted version>
#   modules/internal/pvecontract/regen.sh ../pve-docs
# Needs only Go and git; reads api-viewer/apidata.js, generated/*.adoc and
# debian/changelog from the checkout.
set -eu
docs=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
commit=$(git -C "$docs" rev-parse HEAD)
date=$(git -C "$docs" log -1 --format=%cs)
cd "$here/../../.."
go run ./modules/internal/pvecontract/gen -docs "$docs" -commit "$commit" -date "$date" \
	-out modules/internal/pvecontract/contract.json
go test ./modules/internal/pvecontract/...
