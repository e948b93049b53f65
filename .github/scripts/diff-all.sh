#!/usr/bin/env bash
# Diff each stack's head plan against its base plan into one Markdown comment:
# diff-all.sh <crucible command> <plans dir with base/ and head/> <comment file>
# A stack whose head plan failed (plan-all.sh's <stack>.status) is reported as FAILED at the top and in its section,
# with the end of its output: the comment never reads "all clear" for a plan that did not pass.
set -uo pipefail
crucible=$1
plans=$2
comment=$3
failed=()
for txt in "$plans"/head/*.txt; do
  [ -e "$txt" ] || continue
  stack=$(basename "$txt" .txt)
  code=$(cat "$plans/head/$stack.status" 2>/dev/null || echo 0)
  [ "$code" = 0 ] || failed+=("$stack")
done
{
  echo "## Crucible plan"
  if [ "${#failed[@]}" -gt 0 ]; then
    echo
    echo "**Plan FAILED for ${#failed[@]} stack(s): ${failed[*]}.** Fix them before merging; their sections say why."
  fi
  if ! compgen -G "$plans/head/*.txt" > /dev/null; then
    echo
    echo "**Plan FAILED: no stack was planned** (see the workflow run)."
  fi
  for txt in "$plans"/head/*.txt; do
    [ -e "$txt" ] || continue
    stack=$(basename "$txt" .txt)
    head="$plans/head/$stack.json"
    base="$plans/base/$stack.json"
    code=$(cat "$plans/head/$stack.status" 2>/dev/null || echo 0)
    echo
    if [ "$code" != 0 ]; then
      echo "### $stack — plan FAILED (exit $code)"
      echo
      echo '```'
      tail -n 40 "$txt"
      echo '```'
      [ -f "$head" ] || continue
      echo
    fi
    if [ -f "$base" ] && [ -f "$head" ]; then
      "$crucible" diff "$base" "$head" --markdown | sed "1s/.*/### $stack/"
    elif [ -f "$head" ]; then
      echo "### $stack (new stack)"
      echo
      echo '```'
      cat "$txt"
      echo '```'
    fi
  done
} > "$comment"
