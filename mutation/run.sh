#!/usr/bin/env bash
# npm run mutate [-- src/net ...]: mutate the named folders (all four by default), then check per-folder thresholds.
# MUTATE_CONCURRENCY sets Stryker's worker count (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
tag=all
if [ $# -gt 0 ]; then
  tag=""
  globs=""
  for folder in "$@"; do
    globs="${globs:+$globs,}${folder%/}/**/*.ts"
    tag="${tag:+$tag-}$(basename "${folder%/}")"
  done
  # One --mutate with a comma-separated list: given twice, Stryker keeps only the last.
  args+=(--mutate "$globs")
fi
export MUTATE_TAG="$tag"
npx stryker run "${args[@]}"
node --import tsx mutation/check.ts "reports/mutation/$tag.json"
