#!/usr/bin/env bash
# npm run bench:summarize [-- bench.py options, e.g. --quick]: generated camera reviews, a tiny T5
# built from them and a t5-small-sized T5 with random weights (all made once under
# state/bench/summarize), then bench/summarize/bench.py.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
dir=state/bench/summarize
mkdir -p "$dir"
if [[ ! -f "$dir/reviews.tsv.gz" ]]; then
  # 2,600 rows leave more than 2,000 non-empty bodies after the generator's defects.
  node_modules/.bin/tsx scripts/generate-reviews.ts --out "$dir/reviews.tsv.gz" --rows 2600 --products 120 --seed 11
fi
PYTHONPATH=python .venv/bin/python -m tuneflow_ml.tiny_model --data "$dir/reviews.tsv.gz" --out "$dir/tiny-t5"
PYTHONPATH=python exec .venv/bin/python bench/summarize/bench.py --tiny-model "$dir/tiny-t5" --small-model "$dir/t5-small-sized" \
  --data "$dir/reviews.tsv.gz" "$@"
