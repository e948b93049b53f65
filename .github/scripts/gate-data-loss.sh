#!/usr/bin/env bash
# Before any stage changes: would this commit lose data in <environment>?
#   gate-data-loss.sh <environment> <stack> [<stack> ...]
# The commit an environment runs is its last successful GitHub deployment (the deploy jobs run in that environment);
# its plan is compared with this commit's plan, stack by stack (`crucible diff --fail-on-data-loss`: an unprotected
# stateful resource destroyed or replaced), and a protected one fails too: `pulumi up` would stop halfway through
# it, after earlier stages already changed. Offline: no cloud credentials. Needs GH_TOKEN (deployments: read).
set -euo pipefail
environment=$1
shift
crucible=${CRUCIBLE:-.venv/bin/crucible}
python=${PYTHON:-.venv/bin/python}
work=${RUNNER_TEMP:-/tmp}/gate-$environment
mkdir -p "$work"
deployed=${DEPLOYED_SHA:-}
if [ -z "$deployed" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
  deployed=$(gh api "repos/$GITHUB_REPOSITORY/deployments?environment=$environment&per_page=30" --jq '.[].id' | while read -r id; do
    state=$(gh api "repos/$GITHUB_REPOSITORY/deployments/$id/statuses?per_page=1" --jq '.[0].state // ""')
    if [ "$state" = success ]; then gh api "repos/$GITHUB_REPOSITORY/deployments/$id" --jq .sha; break; fi
  done)
fi
if [ -z "$deployed" ]; then
  echo "$environment: no successful deployment yet: nothing deployed can be lost"
  exit 0
fi
echo "$environment runs $deployed"
rm -rf "$work/deployed"
git worktree add --force "$work/deployed" "$deployed" >/dev/null
.github/scripts/install.sh "$work/deployed" >/dev/null
status=0
for stack in "$@"; do
  if [ ! -f "$work/deployed/stacks/Pulumi.$stack.yaml" ]; then
    echo "$stack: not in the deployed commit, a new stack: nothing deployed can be lost"
    continue
  fi
  (cd "$work/deployed" && .venv/bin/crucible plan "$stack" --json "$work/$stack.deployed.json" >/dev/null) || true
  if [ ! -s "$work/$stack.deployed.json" ]; then
    echo "::error title=$stack::the deployed commit's plan of $stack failed: comparing against nothing would hide losses"
    status=1
    continue
  fi
  "$crucible" plan "$stack" --json "$work/$stack.head.json" >/dev/null || true   # policy verdicts are the stage's business
  if ! "$crucible" diff "$work/$stack.deployed.json" "$work/$stack.head.json" --fail-on-data-loss --json "$work/$stack.diff.json"; then
    echo "::error title=$stack would lose data::an unprotected stateful resource is destroyed or replaced (see the diff above)"
    status=1
  fi
  "$python" .github/scripts/protected-loss.py "$work/$stack.diff.json" "$stack" || status=1
done
git worktree remove --force "$work/deployed"
exit $status
