#!/usr/bin/env bash
# Commit the shipped SIIT models that are complete (their meta file is written last) and the manifest.
# Used while `main.py train iit -i all` runs: each call commits what has landed since the last one.
#
# Every model with its manifest row, always together (a clean clone's test checks each model against
# its row). Git keeps every committed version of a weight file, so while large models are trained on
# in chunks (`--retry-failed`), call this a few times a session rather than after every chunk.
set -euo pipefail
cd "$(dirname "$0")/.."
root=circuits_benchmark/siit_models
run=${RUN:-510}
python -c "from circuits_benchmark.training.manifest import write_manifest; write_manifest('$root', '$run')"
folders=$(for m in "$root"/*/meta_"$run".json; do dirname "$m"; done)
git add $folders "$root/manifest_$run.csv" "$root/MANIFEST_$run.md"
if git diff --cached --quiet; then echo "nothing new"; exit 0; fi
n=$(echo "$folders" | wc -w)
git commit -q -m "Shipped SIIT models: $n stored (run $run), manifest updated"
git log --oneline -1
