#!/usr/bin/env bash
# One deploy stage, stack by stack in the given order (a split deployment: the core before the platform that reads it):
#   pulumi-stage.sh plan <environment> <stacks JSON> <refresh true|false> <plans dir>
#       [refresh: pulumi refresh --preview-only --expect-no-changes: drift stops the stage]
#       pulumi preview --save-plan <plans dir>/<stack>.plan.json, with the policy pack and policies/config/<environment>.json
#   pulumi-stage.sh up <environment> <stacks JSON> <refresh true|false> <plans dir>
#       [refresh: pulumi refresh --yes]; pulumi up --plan <plans dir>/<stack>.plan.json (only the reviewed operations)
# Needs PULUMI_BACKEND_URL and AWS credentials (the stage's identity); update plans need PULUMI_EXPERIMENTAL=true.
set -euo pipefail
mode=$1 environment=$2 stacks_json=$3 refresh=$4 plans=$5
mapfile -t stacks < <(python3 -c 'import json, sys; [print(s) for s in json.loads(sys.argv[1])]' "$stacks_json")
policy=(--policy-pack policies --policy-pack-config "policies/config/$environment.json")
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
mkdir -p "$plans"
for stack in "${stacks[@]}"; do
  qualified="organization/crucible/$stack"
  case $mode in
    plan)
      if [ "$refresh" = true ]; then
        echo "::group::drift check $stack (refresh --preview-only --expect-no-changes)"
        pulumi refresh --stack "$qualified" --preview-only --expect-no-changes --non-interactive --diff
        echo "::endgroup::"
      fi
      pulumi preview --stack "$qualified" --non-interactive --diff "${policy[@]}" \
        --save-plan "$plans/$stack.plan.json" | tee "$plans/$stack.preview.txt"
      { echo "### $environment: $stack (plan the reviewers approve)"; echo '```'; tail -n 400 "$plans/$stack.preview.txt"; echo '```'; } >> "$summary"
      ;;
    up)
      if [ ! -s "$plans/$stack.plan.json" ]; then
        echo "::error::no saved plan for $stack: refusing to deploy what nobody reviewed"
        exit 1
      fi
      if [ "$refresh" = true ]; then
        pulumi refresh --stack "$qualified" --yes --non-interactive
      fi
      pulumi up --stack "$qualified" --yes --non-interactive "${policy[@]}" --plan "$plans/$stack.plan.json"
      ;;
    *) echo "pulumi-stage.sh: mode is plan or up, got $mode" >&2; exit 2 ;;
  esac
done
