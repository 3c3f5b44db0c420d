#!/usr/bin/env bash
# A newcomer's first result: seconds from `git clone` to the first output/metrics.json with the
# README's `make run`, for two revisions side by side, alternating, each with BuildKit's cache
# emptied first (as on a new machine; your next build starts cold too).
#
#   bash bench/first-result.sh OLD_REVISION [NEW_REVISION] [ROUNDS]
#
# BASE_IMAGE as for the tests. Each run's images are named bench-first-<random> and removed after.
set -euo pipefail
old=${1:?give the revision to compare against, e.g. fbea3e6^}
new=${2:-HEAD}
rounds=${3:-2}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset PYTHONDONTWRITEBYTECODE  # Python's default: bytecode is written once

for round in $(seq "$rounds"); do
  for revision in "$old" "$new"; do
    image="bench-first-$(openssl rand -hex 4)"
    docker buildx prune --all --force >/dev/null
    started=$(date +%s.%N)
    git clone --quiet "$root" "$work/$image"
    if ! (cd "$work/$image" && git checkout --quiet "$(git -C "$root" rev-parse "$revision")" \
          && IMAGE_NAME=$image make run >"$work/$image.log" 2>&1 && test -f output/metrics.json); then
      tail -20 "$work/$image.log"
      echo "first-result: make run of $revision gave no output/metrics.json (its output is above)" >&2
      exit 1
    fi
    ended=$(date +%s.%N)
    printf '%s round %s: %.1f s\n' "$revision" "$round" "$(echo "$ended - $started" | bc)"
    docker images --quiet --filter "label=dockertasks.project=$image" | sort -u | xargs -r docker rmi --force >/dev/null
  done
done
