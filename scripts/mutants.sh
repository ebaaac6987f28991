#!/usr/bin/env bash
# Mutation testing of the pure modules, one slice at a time (2 cores: a whole run takes hours).
#
#   scripts/mutants.sh                 every module below, in turn
#   scripts/mutants.sh forward/retry   one module (a path under src/, without .rs)
#
# Each module's mutants are tested with the fast test set that guards it: the library's unit
# tests filtered to the module (cargo test --lib <filter>). Results land in mutants.out/<module>/
# (caught.txt, missed.txt, unviable.txt, timeout.txt); TESTING.md keeps the summary and says,
# for every surviving mutant, which test now kills it or why it is equivalent.
# Not part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$VERSION"; then
  cargo install --locked "cargo-mutants@$VERSION"
fi

# module path (under src/, no .rs) and the unit-test filter that exercises it
MODULES=(
  "verify/mod verify::"
  "verify/hmac verify::"
  "verify/rsa verify::"
  "verify/stringify verify::stringify"
  "verify/stringify/parse verify::stringify"
  "verify/stringify/number verify::stringify"
  "filter filter::"
  "sanitize sanitize::"
  "codec codec::"
  "export export::"
  "export/quote export::"
  "forward/retry forward::"
  "provider/select provider::"
  "relay/protocol relay::protocol"
  "relay/token relay::token"
)

# Each mutant is a rebuild and a link of the library's test binary: without debug information,
# and with mold when the machine has it, that is about half the time a mutant takes.
export CARGO_PROFILE_DEV_DEBUG=0
if command -v mold >/dev/null; then
  export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-fuse-ld=mold"
fi

run() {
  local module=$1 filter=$2
  local out="mutants.out/${module//\//-}"
  mkdir -p "$out"
  echo "== $module (tests: --lib $filter)"
  cargo mutants --file "src/$module.rs" --jobs 1 --timeout 120 \
    --cargo-arg=--lib --output "$out" -- "$filter" || true
  for outcome in caught missed unviable timeout; do
    printf '%-9s %s\n' "$outcome" "$(wc -l < "$out/mutants.out/$outcome.txt" 2>/dev/null || echo 0)"
  done
}

for entry in "${MODULES[@]}"; do
  read -r module filter <<<"$entry"
  if [ $# -eq 0 ] || [ "$1" = "$module" ]; then
    run "$module" "$filter"
  fi
done
