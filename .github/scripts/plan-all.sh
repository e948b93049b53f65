#!/usr/bin/env bash
# Plan every shipped stack config offline, and the bootstrap: plan-all.sh <crucible command> <output dir>
# Writes <output dir>/<stack>.json, <stack>.txt and <stack>.status (the plan's exit code: 0 clean, 1 a mandatory
# policy or a workload that cannot land, 2 invalid config, 3 internal error); exits non-zero if any plan fails, after
# planning every stack, so diff-all.sh can say which failed.
set -uo pipefail
crucible=$1
out=$2
mkdir -p "$out"
status=0
stacks=()
for config in stacks/Pulumi.*.yaml; do
  stack=${config#stacks/Pulumi.}
  stacks+=("${stack%.yaml}")
done
[ -f bootstrap/Pulumi.bootstrap.yaml ] && stacks+=(bootstrap)   # the delivery identities change under review too
for stack in "${stacks[@]}"; do
  "$crucible" plan "$stack" --json "$out/$stack.json" > "$out/$stack.txt" 2>&1
  code=$?
  echo "$code" > "$out/$stack.status"
  if [ "$code" -ne 0 ]; then
    echo "::error title=crucible plan $stack failed::$(tail -n 20 "$out/$stack.txt" | tr '\n' ' ')"
    status=1
  fi
done
exit $status
