#!/usr/bin/env bash
# Real readers of what labelmux writes, and a task table written by Spark itself.
#
# Usage: tests/readers/run.sh [PYTHON]
#   PYTHON  interpreter with pyarrow, deltalake and pyspark (or env LABELMUX_PYTHON). Without
#           one, the fidelity venv ${LABELMUX_VENV:-.venv} is created/reused and they are
#           pip-installed into it. Spark needs Java 17 (`java` on PATH); without it the Spark
#           checks are skipped with a message (pyarrow and deltalake still run).
#
# Steps: Spark writes a Parquet task table (part files + _SUCCESS); `labelmux tasks create`
# sends it to the Sama emulator (`labelmux emulate sama`, tasks move on by themselves);
# `deliveries pull --out labels.parquet` and `--consumer readers --delta DIR` write the
# deliveries; check_tables.py reads them with pyarrow, deltalake and Spark.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${1:-${LABELMUX_PYTHON:-}}"
rows=40

if [[ -z "$python" ]]; then
  venv="${LABELMUX_VENV:-$repo/.venv}"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  python="$venv/bin/python"
  "$python" -m pip install -q --disable-pip-version-check \
    "pyarrow==26.0.1" "deltalake==1.6.6" "pyspark==3.5.9"
fi

spark=1
if ! command -v java >/dev/null 2>&1; then
  echo "readers: no java on PATH: the Spark checks are skipped" >&2
  spark=0
fi

cargo build -q -p labelmux-cli
bin="$repo/target/debug/labelmux"
work="$(mktemp -d)"
emu_pid=""
cleanup() {
  if [[ -n "$emu_pid" ]]; then kill "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

tasks="$work/spark_tasks"
if [[ $spark == 1 ]]; then
  "$python" "$here/spark_tasks.py" "$tasks" "$rows"
else
  # Without Spark, pyarrow writes the same table.
  "$python" - "$tasks" "$rows" <<'PY'
import os, sys
import pyarrow as pa, pyarrow.parquet as pq
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
t = pa.table({"url": [f"https://x/spark-{i}.jpg" for i in range(n)],
              "name": [f"spark task {i}" for i in range(n)],
              "external_id": [f"spark-{i}" for i in range(n)],
              "output_label": [f'"c{i % 3}"' for i in range(n)]})
pq.write_table(t, f"{out}/part-00000.parquet")
PY
fi

"$bin" emulate sama --lifecycle-ms 10 >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 100); do
  grep -q '^base_url=' "$work/emu.out" 2>/dev/null && break
  sleep 0.1
done
read -r url_kv key_kv <"$work/emu.out"
export SAMA_API_KEY="${key_kv#api_key=}"
export LABELMUX_STATE_DIR="$work/state"
lm() { "$bin" --provider sama --base-url "${url_kv#base_url=}" --project 1001 --output json "$@"; }

lm tasks create --from "$tasks" --wait >"$work/create.json"
"$python" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['rows_sent']==$rows, r; print('tasks create: Spark table of', r['rows_sent'], 'rows accepted')" "$work/create.json"

# Wait until the emulated workforce has delivered every task.
for _ in $(seq 150); do
  lm deliveries pull --all --out "$work/probe.jsonl" >/dev/null
  [[ $(wc -l <"$work/probe.jsonl") -ge $rows ]] && break
  sleep 0.2
done

lm deliveries pull --all --out "$work/labels.parquet" >/dev/null
lm deliveries pull --consumer readers --delta "$work/labels_delta" >/dev/null
no_spark=()
[[ $spark == 1 ]] || no_spark=(--no-spark)
"$python" "$here/check_tables.py" "$work/labels.parquet" "$work/labels_delta" "$rows" "${no_spark[@]}"
