#!/usr/bin/env bash
# Rebuilds the web app's script, src/saymotion/assets/web/app.js, from web/src with the exact
# versions in web/package-lock.json (three.js, esbuild). The built file is committed, so installing
# or serving saymotion needs neither npm nor a CDN; run this only after changing web/.
# Node modules go to build/web (ignored by git), never into the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/web
rm -rf "$build/src"
mkdir -p "$build"
cp web/package.json web/package-lock.json "$build/"
cp -r web/src "$build/src"
# npm ci installs exactly the lock file's versions; esbuild's binary comes from its platform package.
(cd "$build" && npm ci --no-audit --no-fund --loglevel=error)
"$build/node_modules/.bin/esbuild" "$build/src/main.js" \
  --bundle --minify --format=esm --target=es2022 --legal-comments=eof --log-level=warning \
  --outfile=src/saymotion/assets/web/app.js
echo "built src/saymotion/assets/web/app.js ($(wc -c < src/saymotion/assets/web/app.js) bytes)"
