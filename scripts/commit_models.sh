#!/usr/bin/env bash
# Commit the shipped SIIT models that are complete (their meta file is written last) and the manifest.
# Used while `main.py train iit -i all` runs: each call commits what has landed since the last one.
#
# Git keeps every committed version of a weight file, so a model trained on in chunks is re-committed
# only when it now passes the gate; `--all` commits every changed model (once, at the end of a session).
set -euo pipefail
cd "$(dirname "$0")/.."
root=circuits_benchmark/siit_models
run=${RUN:-510}
python -c "from circuits_benchmark.training.manifest import write_manifest; write_manifest('$root', '$run')"
for meta in "$root"/*/meta_"$run".json; do
  folder=$(dirname "$meta")
  if [ "${1:-}" = "--all" ] || ! git ls-files --error-unmatch "$meta" >/dev/null 2>&1 \
     || python -c "import json,sys; sys.exit(0 if (json.load(open('$meta')).get('gate') or {}).get('passed') else 1)"; then
    git add "$folder"
  fi
done
git add "$root/manifest_$run.csv" "$root/MANIFEST_$run.md"
if git diff --cached --quiet; then echo "nothing new"; exit 0; fi
n=$(ls -d "$root"/*/meta_"$run".json | wc -l)
git commit -q -m "Shipped SIIT models: $n stored (run $run), manifest updated"
git log --oneline -1
