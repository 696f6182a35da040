#!/usr/bin/env bash
# Finds Apple's device-management schemas the way the tests do (test/support/apple-schema-dir.ts): $APPLE_SCHEMA_DIR,
# else ../shared/apple-device-management, else .cache/apple-device-management. If none holds them, fetches Apple's
# repository at the pinned commit into .cache/apple-device-management (never into the repository's tracked files).
# Prints the folder on stdout; exits 1 with one line on stderr when they are neither here nor reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

# Apple's "Release_iOS-18-1_macOS-15-1" (2024-10-21): the schema set the conformance tests were written against.
COMMIT=b6202ca2fbd31286a52eb160b67a4db7b4fe1f1f
REPO=https://github.com/apple/device-management

has_schemas() { [ -d "$1/mdm/profiles" ] && [ -d "$1/mdm/commands" ] && [ -d "$1/mdm/checkin" ]; }

if [ -n "${APPLE_SCHEMA_DIR:-}" ]; then
  if has_schemas "$APPLE_SCHEMA_DIR"; then echo "$APPLE_SCHEMA_DIR"; exit 0; fi
  echo "APPLE_SCHEMA_DIR=$APPLE_SCHEMA_DIR does not hold Apple's schemas (mdm/profiles, mdm/commands, mdm/checkin)" >&2
  exit 1
fi
for dir in ../shared/apple-device-management .cache/apple-device-management; do
  if has_schemas "$dir"; then (cd "$dir" && pwd); exit 0; fi
done

target=.cache/apple-device-management
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetched=""
if command -v git >/dev/null; then
  git init -q "$work/repo"
  if git -C "$work/repo" fetch -q --depth 1 "$REPO" "$COMMIT" 2>/dev/null; then
    git -C "$work/repo" -c advice.detachedHead=false checkout -q FETCH_HEAD
    rm -rf "$work/repo/.git"
    fetched="$work/repo"
  fi
fi
if [ -z "$fetched" ] && command -v curl >/dev/null; then
  if curl -fsL --max-time 120 "$REPO/archive/$COMMIT.tar.gz" | tar -xz -C "$work" 2>/dev/null; then
    fetched="$work/device-management-$COMMIT"
  fi
fi
if [ -z "$fetched" ] || ! has_schemas "$fetched"; then
  echo "cannot fetch Apple's schemas from $REPO at $COMMIT; set APPLE_SCHEMA_DIR to a checkout of it" >&2
  exit 1
fi
mkdir -p .cache
rm -rf "$target"
mv "$fetched" "$target"
(cd "$target" && pwd)
