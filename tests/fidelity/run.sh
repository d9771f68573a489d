#!/usr/bin/env bash
# Fidelity check of the labelmux emulators against the vendors' OFFICIAL Python SDKs.
#
# Usage: tests/fidelity/run.sh [sama|scale|labelbox|segments|all] [PYTHON]
#   target   which vendor(s) to check (default: all; a vendor without a script is skipped)
#   PYTHON   interpreter that has the SDKs installed (or env LABELMUX_PYTHON). Without one, a
#            venv at ${LABELMUX_VENV:-.venv} is created/reused and `sama==0.5.12 scaleapi
#            labelbox==7.17.0 segments-ai==1.33.0` are pip-installed into it.
# Env: LABELMUX_EMULATOR_PROFILE=release|debug (default release) selects the cargo profile of
#      the emulator binary.
#
# For each vendor: build the emulator, start `labelmux-emulator <vendor>` on an ephemeral
# loopback port, parse its `base_url=... api_key=...` line, run tests/fidelity/<vendor>_sdk.py
# with LABELMUX_EMULATOR_URL/KEY/PROJECT set, stop the emulator, propagate the exit code.
# Adding a vendor: write <vendor>_sdk.py (with the shared fidelity_runner.py) and add its default
# project to project_of().
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${1:-all}"
python="${2:-${LABELMUX_PYTHON:-}}"
profile="${LABELMUX_EMULATOR_PROFILE:-release}"

case "$target" in
  sama | scale | labelbox | segments) vendors=("$target") ;;
  all) vendors=(sama scale labelbox segments) ;;
  *) echo "usage: $0 [sama|scale|labelbox|segments|all] [PYTHON]" >&2; exit 2 ;;
esac

project_of() {
  case "$1" in
    sama) echo 1001 ;;
    scale) echo demo ;;
    labelbox) echo clemudemoproject000000001 ;;
    segments) echo labelmux/demo ;;
  esac
}

# --- Python with the official SDKs ---------------------------------------------------------------
if [[ -z "$python" ]]; then
  venv="${LABELMUX_VENV:-.venv}"
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "fidelity: creating venv $venv" >&2
    python3 -m venv "$venv"
  fi
  python="$venv/bin/python"
  if ! "$python" -c 'import sama, scaleapi, labelbox, segments' 2>/dev/null; then
    echo "fidelity: installing sama==0.5.12 scaleapi labelbox==7.17.0 segments-ai==1.33.0 into $venv" >&2
    "$python" -m pip install -q 'sama==0.5.12' scaleapi 'labelbox==7.17.0' 'segments-ai==1.33.0'
  fi
fi

# Keep the interpreter usable after the cd below (no symlink resolution: that would leave the venv).
if [[ "$python" == */* && "$python" != /* ]]; then
  python="$PWD/$python"
fi

# --- emulator binary -------------------------------------------------------------------------------
cd "$repo"
if [[ "$profile" == release ]]; then
  cargo build -q --release -p labelmux-emulator
else
  cargo build -q -p labelmux-emulator
fi
target_dir="$(cargo metadata --format-version 1 --no-deps |
  "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/$profile/labelmux-emulator"

workdir="$(mktemp -d)"
emu_pid=""
cleanup() {
  if [[ -n "$emu_pid" ]]; then
    kill "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

# run_vendor VENDOR: 0 passed, 1 failed, 3 skipped (no script)
run_vendor() {
  local vendor="$1" script="$here/${1}_sdk.py"
  if [[ ! -f "$script" ]]; then
    echo "fidelity: no $script, skipping $vendor" >&2
    return 3
  fi
  local out="$workdir/$vendor.out" err="$workdir/$vendor.err"
  "$bin" "$vendor" --addr 127.0.0.1:0 >"$out" 2>"$err" &
  emu_pid=$!
  local line="" i
  for ((i = 0; i < 600; i++)); do
    line="$(grep -m1 '^base_url=' "$out" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    if ! kill -0 "$emu_pid" 2>/dev/null; then
      echo "fidelity: $vendor emulator exited early:" >&2
      cat "$err" >&2
      emu_pid=""
      return 1
    fi
    sleep 0.1
  done
  if [[ -z "$line" ]]; then
    echo "fidelity: $vendor emulator printed no base_url line" >&2
    return 1
  fi
  local base key
  base="$(sed -E 's/^base_url=([^ ]+) .*/\1/' <<<"$line")"
  key="$(sed -E 's/.* api_key=(.*)$/\1/' <<<"$line")"
  echo "fidelity: $vendor emulator at $base" >&2
  local rc=0
  LABELMUX_EMULATOR_URL="$base" LABELMUX_EMULATOR_KEY="$key" \
    LABELMUX_EMULATOR_PROJECT="$(project_of "$vendor")" \
    "$python" "$script" || rc=$?
  kill "$emu_pid" 2>/dev/null || true
  wait "$emu_pid" 2>/dev/null || true
  emu_pid=""
  [[ $rc -eq 0 ]] || return 1
  return 0
}

status=0
ran=0
for v in "${vendors[@]}"; do
  rc=0
  run_vendor "$v" || rc=$?
  case "$rc" in
    0) ran=$((ran + 1)) ;;
    3) [[ "$target" == all ]] || status=1 ;;
    *) ran=$((ran + 1)); status=1 ;;
  esac
done
if [[ $ran -eq 0 ]]; then
  echo "fidelity: nothing ran" >&2
  status=1
fi
exit "$status"
