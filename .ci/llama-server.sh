#!/usr/bin/env bash
# Builds llama.cpp's llama-server (static, -O1, no web UI) from the C++ source vendored in the
# llama-cpp-python sdist on PyPI, and a Python venv with `gguf` for the tiny test model.
# Both are cached under $LABMAN_CI_CACHE/llama and rebuilt only when the pinned version or the
# build flags change. Tests find them at the paths printed on the last two lines
# (see tests/fixtures/llama/paths.ts).
set -euo pipefail
CACHE=${LABMAN_CI_CACHE:-/var/cache/labman-ci}
VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
FLAGS=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  # ON (the default) downloads the web UI from Hugging Face at build time.
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF
  "-DCMAKE_C_FLAGS_RELEASE=-O1 -DNDEBUG" "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG")
KEY=$(printf '%s\n' "$SHA256" "${FLAGS[@]}" | sha256sum | cut -c1-16)
DIR="$CACHE/llama"
BIN="$DIR/bin-$KEY/llama-server"
VENV="$DIR/venv"
mkdir -p "$DIR"

# Debian 12 keeps venv out of python3 itself; the build needs cmake and a C++ compiler.
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(build-essential)
if ((${#need[@]})); then
  # Run on its own on a fresh machine, apt's package lists may still be empty.
  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; } \
    || { echo "llama-server: cannot install ${need[*]}" >&2; exit 1; }
fi

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import gguf, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'gguf==0.19.0' 'numpy<3'
fi
if [[ ! -x "$BIN" ]]; then
  work=$(mktemp -d "$DIR/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # pip fetches the sdist by name (it prepares metadata in an isolated build env; no compile).
  "$VENV/bin/pip" download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -d "$work" \
    || { echo "llama-server: pip download llama-cpp-python==$VERSION failed" >&2; exit 1; }
  sdist="$work/llama_cpp_python-$VERSION.tar.gz"
  echo "$SHA256  $sdist" | sha256sum -c --quiet - || { echo "llama-server: sdist checksum mismatch" >&2; exit 1; }
  tar xzf "$sdist" -C "$work"
  src="$work/llama_cpp_python-$VERSION/vendor/llama.cpp"
  cmake -S "$src" -B "$work/build" "${FLAGS[@]}" >"$DIR/build.log" 2>&1
  nice -n 10 cmake --build "$work/build" --target llama-server -j"$(nproc)" >>"$DIR/build.log" 2>&1 \
    || { tail -30 "$DIR/build.log" >&2; exit 1; }
  mkdir -p "$(dirname "$BIN")"
  strip -o "$BIN.tmp" "$work/build/bin/llama-server"
  mv "$BIN.tmp" "$BIN"
  # The stable name tests look for.
  ln -sfn "bin-$KEY/llama-server" "$DIR/llama-server"
fi
[[ -e "$DIR/llama-server" ]] || ln -sfn "bin-$KEY/llama-server" "$DIR/llama-server"

echo "$DIR/llama-server"
echo "$VENV/bin/python"
