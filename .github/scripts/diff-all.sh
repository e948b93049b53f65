#!/usr/bin/env bash
# Diff each stack's head plan against its base plan into one Markdown comment:
# diff-all.sh <crucible command> <plans dir with base/ and head/> <comment file>
set -uo pipefail
crucible=$1
plans=$2
comment=$3
{
  echo "## Crucible plan"
  for head in "$plans"/head/*.json; do
    stack=$(basename "$head" .json)
    base="$plans/base/$stack.json"
    echo
    if [ -f "$base" ]; then
      "$crucible" diff "$base" "$head" --markdown | sed "1s/.*/### $stack/"
    else
      echo "### $stack (new stack)"
      echo
      echo '```'
      cat "$plans/head/$stack.txt"
      echo '```'
    fi
  done
} > "$comment"
