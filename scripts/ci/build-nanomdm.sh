#!/usr/bin/env bash
# Builds NanoMDM's server (the reference MDM server `npm run bench -- nanomdm` compares the check-in path with)
# once from the Go module proxy and caches it. Only its ./cmd/nanomdm binary; nothing of it enters this repository.
set -euo pipefail
VERSION="${NANOMDM_VERSION:-v0.9.0}"
CACHE="${GATEWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enrollment-gateway}"
BIN="$CACHE/bin/nanomdm-$VERSION"
# Its PostgreSQL schema goes next to it (the bench creates a database from it; no Go needed then).
SCHEMA="$BIN.pgsql-schema.sql"
if [ -x "$BIN" ] && [ -f "$SCHEMA" ] && "$BIN" -version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build NanoMDM" >&2; exit 1; }
mkdir -p "$CACHE/bin"
MOD="github.com/micromdm/nanomdm@$VERSION"
( cd /tmp && go mod download "$MOD" ) >&2
SRC_CACHE=$(cd /tmp && go mod download -json "$MOD" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
cp -r "$SRC_CACHE" "$WORK/src"
chmod -R u+w "$WORK/src"
# -X main.version: the module zip carries no VCS data, so the binary would call itself "unknown".
( cd "$WORK/src" && go build -ldflags "-X main.version=$VERSION" -o "$BIN.tmp" ./cmd/nanomdm ) >&2
cp "$WORK/src/storage/pgsql/schema.sql" "$SCHEMA"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
