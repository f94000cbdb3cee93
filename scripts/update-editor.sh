#!/bin/sh
# Update the query page's SPARQL editor (YASQE, from @zazuko/yasqe on npm) vendored in
# src/tipgraph/web/static/editor/: its built bundle, its stylesheet and the licences of
# everything the bundle holds. The app serves these files itself (no CDN).
#
#   scripts/update-editor.sh            # the version pinned below
#   scripts/update-editor.sh 4.6.3      # another version
#
# Needs npm. Then run the browser tests (pytest -m browser tests/browser/test_query_editor.py).
set -eu
VERSION="${1:-4.6.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/src/tipgraph/web/static/editor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm install --silent --no-audit --no-fund --ignore-scripts "@zazuko/yasqe@$VERSION" >/dev/null
BUILD="node_modules/@zazuko/yasqe/build"
mkdir -p "$OUT"
# the source map is left out (a 1.7 MB file for debugging the library itself), and so is
# the line pointing at it, so that a browser never asks for it
grep -v '^//# sourceMappingURL=' "$BUILD/yasqe.min.js" > "$OUT/yasqe.min.js"
cp "$BUILD/yasqe.min.css" "$OUT/yasqe.min.css"

# The licence: the package's own (MIT; the package ships none, so it is the one in the
# project's repository, the same MIT text), then each bundled dependency's.
{
  echo "The files yasqe.min.js and yasqe.min.css are @zazuko/yasqe $VERSION (YASQE, from"
  echo "https://github.com/rdfjs/Yasgui), built by its authors and vendored unchanged by"
  echo "scripts/update-editor.sh. They bundle the packages listed below; each licence follows."
  echo
  echo "== @zazuko/yasqe, @zazuko/yasgui-utils: MIT =="
  echo "Authors: Triply <info@triply.cc>, Zazuko GmbH (from the packages' package.json)"
  echo
  cat "$ROOT/scripts/MIT.txt"
  for dir in node_modules/*/; do
    name="$(basename "$dir")"
    [ "$name" = "@types" ] && continue
    licence="$(ls "$dir" | grep -i '^licen[cs]e' | head -n 1 || true)"
    [ -n "$licence" ] || continue
    version="$(node -p "require('./${dir}package.json').version")"
    echo
    echo "== $name $version =="
    cat "$dir/$licence"
  done
} > "$OUT/LICENSE"
echo "$VERSION" > "$OUT/VERSION"
ls -l "$OUT"
