"""Entry point the Pulumi CLI runs: `pulumi preview --policy-pack policies [--policy-pack-config policies/config/<env>.json]`.

The CLI starts this directory with `python -u -m pulumi.policy <engine-address> .` (cwd = policies/), which runs
this file; `python policies/__main__.py` and `python -m policies` work too. Constructing PolicyPack starts the
analyzer gRPC server, prints its port on stdout and blocks -- so this is the only place that does it.
"""

import io
import sys
from pathlib import Path

_PACK_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACK_DIR.parent
# Import the pack as the `policies` package from the repository root, never its modules as top-level names.
sys.path[:] = [str(_REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (_PACK_DIR, _REPO_ROOT)]

# PolicyPack announces its port with sys.stdout.buffer.write and never flushes: the CLI runs Python with -u;
# make a plain `python policies/__main__.py` announce it too.
sys.stdout = io.TextIOWrapper(io.FileIO(sys.stdout.fileno(), "wb", closefd=False), write_through=True)

from pulumi_policy import PolicyPack  # noqa: E402

from policies.pack import PACK_ENFORCEMENT, PACK_NAME, all_policies  # noqa: E402

PolicyPack(name=PACK_NAME, policies=all_policies(), enforcement_level=PACK_ENFORCEMENT)
