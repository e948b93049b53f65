#!/usr/bin/env bash
# Plan every shipped stack config offline: plan-all.sh <crucible command> <output dir>
# Writes <output dir>/<stack>.json and <stack>.txt; exits non-zero if any plan fails (config error or policy).
set -uo pipefail
crucible=$1
out=$2
mkdir -p "$out"
status=0
for config in stacks/Pulumi.*.yaml; do
  stack=${config#stacks/Pulumi.}
  stack=${stack%.yaml}
  if ! "$crucible" plan "$stack" --json "$out/$stack.json" > "$out/$stack.txt" 2>&1; then
    echo "::error title=crucible plan $stack failed::$(tail -n 20 "$out/$stack.txt" | tr '\n' ' ')"
    status=1
  fi
done
exit $status
