#!/usr/bin/env bash
# Make .venv exist and hold what requirements.txt (and, with --dev, requirements-dev.txt) ask for.
#
# pip runs only when a requirements file changed since the last successful install: the hash of
# what was installed is kept in .venv/.requirements.sha256, so a run with nothing to do takes a
# fraction of a second. A file pulled in with -r/-c from these is not hashed: touch the top one.
set -euo pipefail

usage() { echo "usage: $0 [--dev]" >&2; exit 2; }
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) usage ;;
  esac
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
venv=.venv
stamp="$venv/.requirements.sha256"

req_files=(requirements.txt)
if [[ $dev == 1 && -f requirements-dev.txt ]]; then
  req_files+=(requirements-dev.txt)
fi
if [[ ! -f requirements.txt ]]; then
  echo "ensure-venv: no requirements.txt in $repo_root" >&2
  exit 1
fi

# A venv whose interpreter is gone (Python upgraded or removed) is recreated, not patched.
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c '' 2>/dev/null; then
  python=$(command -v python3.11 || command -v python3 || true)
  if [[ -z "$python" ]]; then
    echo "ensure-venv: neither python3.11 nor python3 found" >&2
    exit 1
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  echo "ensure-venv: created $venv with $("$venv/bin/python" --version)"
fi

# The file names go into the hash too, so switching between --dev and not reinstalls.
wanted=$(for f in "${req_files[@]}"; do echo "== $f"; cat "$f"; done | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "ensure-venv: ok (${req_files[*]} unchanged)"
  exit 0
fi

pip_args=()
for f in "${req_files[@]}"; do pip_args+=(-r "$f"); done
"$venv/bin/python" -m pip install -q "${pip_args[@]}"
echo "$wanted" >"$stamp"
echo "ensure-venv: installed ${req_files[*]}"
