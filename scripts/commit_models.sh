#!/usr/bin/env bash
# Commit the shipped SIIT models that are complete (their meta file is written last) and the manifest.
# Used while `main.py train iit -i all` runs: each call commits what has landed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=circuits_benchmark/siit_models
run=${RUN:-510}
python -c "from circuits_benchmark.training.manifest import write_manifest; write_manifest('$root', '$run')"
folders=$(for m in "$root"/*/meta_"$run".json; do dirname "$m"; done)
git add $folders "$root/manifest_$run.csv" "$root/MANIFEST_$run.md"
if git diff --cached --quiet; then echo "nothing new"; exit 0; fi
n=$(ls -d $folders | wc -l)
git commit -q -m "Shipped SIIT models: $n cases stored (run $run), manifest updated"
git log --oneline -1
