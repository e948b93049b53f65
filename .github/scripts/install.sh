#!/usr/bin/env bash
# Install a checkout's program (and, with --policy-pack, the policy pack's venv) from its hashed lock files:
#   install.sh <checkout> [--policy-pack] [--test]
# Every package and version comes from requirements.lock (--require-hashes: a changed or substituted file fails the
# install), so every stage runs the very providers the lock names, the ones staging ran before prod. A checkout from
# before the lock files (the base of an old pull request) installs from its own ranges: that only ever runs offline.
set -euo pipefail
dir=$1
shift
lock=requirements.lock
policy_pack=false
for arg in "$@"; do
  case $arg in
    --policy-pack) policy_pack=true ;;
    --test) lock=requirements-test.lock ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
python3 -m venv "$dir/.venv"
if [ -f "$dir/$lock" ]; then
  "$dir/.venv/bin/pip" install --require-hashes --no-deps -r "$dir/$lock"
  "$dir/.venv/bin/pip" install --no-deps --no-build-isolation -e "$dir"
else
  echo "::warning::$dir has no $lock: installing from its pyproject ranges (offline plan only)"
  "$dir/.venv/bin/pip" install -e "$dir"
fi
if $policy_pack; then
  python3 -m venv "$dir/policies/venv"   # PulumiPolicy.yaml: runtime options virtualenv: venv
  "$dir/policies/venv/bin/pip" install --require-hashes --no-deps -r "$dir/policies/requirements.lock"
fi
