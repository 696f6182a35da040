#!/usr/bin/env bash
# Builds FerretDB (the MongoDB-wire-protocol database the tests run against) once and caches it.
# `go install …@v1.24.2` builds a binary that panics at start because the module zip lacks
# build/version/version.txt, so we build from the module source with that file written.
set -euo pipefail
VERSION="${FERRETDB_VERSION:-v1.24.2}"
CACHE="${GATEWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enrollment-gateway}"
BIN="$CACHE/bin/ferretdb-$VERSION"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build FerretDB" >&2; exit 1; }
mkdir -p "$CACHE/bin"
MOD="github.com/FerretDB/FerretDB@$VERSION"
( cd /tmp && GOFLAGS=-mod=mod go mod download -x "$MOD" >/dev/null 2>&1 || go mod download "$MOD" ) >&2
SRC_CACHE=$(cd /tmp && go mod download -json "$MOD" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC_CACHE" "$WORK/src"
chmod -R u+w "$WORK/src"
echo "$VERSION" > "$WORK/src/build/version/version.txt"
( cd "$WORK/src" && go build -o "$BIN.tmp" ./cmd/ferretdb ) >&2
mv "$BIN.tmp" "$BIN"
echo "$BIN"
