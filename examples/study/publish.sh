#!/usr/bin/env bash
# Copies each finished experiment of the study into docs/results/<experiment>/: its report page, its
# summary.json and its Markdown table (attnc report --md), after rebuilding them from the runs.
#   bash examples/study/publish.sh [OUT]      # default OUT: runs/study (as examples/study/run.sh writes it)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-runs/study}"
for dir in "$out"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/experiment.json" ] || continue
  analyze=(); [ "$name" = noise ] && analyze=(--analyze)
  node bin/attnc.js experiment --report-only "$dir" "${analyze[@]}" > /dev/null
  mkdir -p "docs/results/$name"
  cp "$dir/report.html" "$dir/summary.json" "docs/results/$name/"
  node bin/attnc.js report --md "$dir" > "docs/results/$name/table.md"
  echo "docs/results/$name/: report.html, summary.json, table.md"
done
