#!/usr/bin/env bash
# Fetch the ONNX Runtime C API headers (MIT) for the C engine from the npm registry, into a cache
# outside git: hybrid_system/inference/.deps/ort-<version>/include/. The runtime itself is the
# installed `onnxruntime` wheel's libonnxruntime.so (no headers ship with it).
#
# The npm package com.github.asus4.onnxruntime (Unity packaging of the official ORT builds) carries the
# official headers. Version and tarball integrity are pinned: a different tarball is refused.
# 0.4.9 = ORT C API 29 (ORT 1.29); a header of API version N works with a runtime >= N (the wheel: 1.32).
#
# Usage: scripts/fetch_ort_headers.sh [DEST]   (prints the include folder on success; idempotent)
set -euo pipefail

PKG="com.github.asus4.onnxruntime"
VERSION="0.4.9"
INTEGRITY="sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg=="
API_VERSION=29

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$here/hybrid_system/inference/.deps}"
inc="$dest/ort-$VERSION/include"
if [[ -f "$inc/onnxruntime_c_api.h" ]]; then
    echo "$inc"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch_ort_headers: npm is not installed" >&2; exit 3; }
mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
tarball="$dest/$PKG-$VERSION.tgz"
if [[ ! -f "$tarball" ]]; then
    (cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null) || {
        echo "fetch_ort_headers: npm pack $PKG@$VERSION failed (offline?)" >&2; exit 4; }
    mv "$tmp/$PKG-$VERSION.tgz" "$tarball"
fi
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$got" != "$INTEGRITY" ]]; then
    rm -f "$tarball"
    echo "fetch_ort_headers: integrity mismatch for $PKG@$VERSION: got $got, pinned $INTEGRITY" >&2
    exit 5
fi
# The headers are the same in every platform folder of the package: take one copy, C headers only.
hdir="$(tar tzf "$tarball" | grep '/Headers/onnxruntime_c_api.h$' | head -1 | xargs dirname)"
[[ -n "$hdir" ]] || { echo "fetch_ort_headers: no onnxruntime_c_api.h in the package" >&2; exit 6; }
files=()
for h in onnxruntime_c_api.h onnxruntime_error_code.h onnxruntime_ep_c_api.h onnxruntime_float16.h cpu_provider_factory.h; do
    tar tzf "$tarball" "$hdir/$h" >/dev/null 2>&1 && files+=("$hdir/$h")
done
tar xzf "$tarball" -C "$tmp" "${files[@]}"
got_api="$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$tmp/$hdir/onnxruntime_c_api.h")"
[[ "$got_api" == "$API_VERSION" ]] || { echo "fetch_ort_headers: header API $got_api, expected $API_VERSION" >&2; exit 7; }
mkdir -p "$inc"
cp "$tmp/$hdir"/*.h "$inc/"
echo "$inc"
