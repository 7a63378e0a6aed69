#!/usr/bin/env bash
# Re-fetch the vendored front-end files from the npm registry into static/vendor/.
#
# The pins below are the only place versions live: to upgrade, edit a version, run this script,
# look at the diff, commit. VERSIONS.md is regenerated from what was fetched. Not run by tests.
set -euo pipefail

# package@version  destination dir (under static/vendor/)  files to copy from the package root
PINS=(
  "htmx.org@2.0.11   htmx         dist/htmx.min.js"
  "uplot@1.6.32      uplot        dist/uPlot.iife.min.js dist/uPlot.min.css"
  # The routing map: a graph library, and its layered layout (bundles @dagrejs/dagre; no other deps).
  "cytoscape@3.35.0  cytoscape  dist/cytoscape.min.js"
  "cytoscape-dagre@4.0.1  cytoscape-dagre  dist/cytoscape-dagre.min.js"
)

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vendor_dir="$repo_root/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export npm_config_loglevel=error npm_config_fund=false npm_config_audit=false

versions_md="$work/VERSIONS.md"
{
  echo "# Vendored front-end files"
  echo
  echo "Fetched from the npm registry by \`scripts/vendor-frontend.sh\`, which holds the pins;"
  echo "do not edit these files or this table by hand. Integrity is the npm tarball's"
  echo "\`dist.integrity\`, checked against the downloaded tarball."
  echo
  echo "| package | version | license | files | npm tarball integrity |"
  echo "| --- | --- | --- | --- | --- |"
} >"$versions_md"

for pin in "${PINS[@]}"; do
  read -r spec dest files <<<"$pin"
  name=${spec%@*}
  version=${spec##*@}

  integrity=$(npm view "$spec" dist.integrity)
  license=$(npm view "$spec" license)
  tarball=$(cd "$work" && npm pack --silent "$spec" | tail -n 1)

  # npm pack already checks the tarball; checking again here ties VERSIONS.md to the exact bytes.
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "integrity mismatch for $spec: registry says $integrity, tarball is $actual" >&2
    exit 1
  fi

  unpacked="$work/$name"
  mkdir -p "$unpacked"
  tar -xzf "$work/$tarball" -C "$unpacked"
  if [[ -z "$license" ]]; then
    license="not declared in package.json; LICENSE reads \"$(head -n 1 "$unpacked/package/LICENSE")\""
  fi

  rm -rf "${vendor_dir:?}/$dest"
  mkdir -p "$vendor_dir/$dest"
  copied=()
  for f in $files LICENSE; do
    cp "$unpacked/package/$f" "$vendor_dir/$dest/"
    copied+=("$dest/$(basename "$f")")
  done

  echo "| $name | $version | $license | ${copied[*]} | \`$integrity\` |" >>"$versions_md"
  echo "vendored $spec -> static/vendor/$dest"
done

# The console must work with no outside network: nothing vendored may load from a URL at run time.
# A URL inside a comment (a homepage, a license link) is harmless, so list them for a human to judge
# and fail only on patterns that fetch.
if grep -rnE "(src|href|import|url)\s*[=(:]?\s*[\"'(]?https?://" "$vendor_dir" --include='*.js' --include='*.css'; then
  echo "a vendored file loads something from a URL at run time (see above)" >&2
  exit 1
fi

cp "$versions_md" "$vendor_dir/VERSIONS.md"
echo "wrote static/vendor/VERSIONS.md"
