"""Entry point `pulumi up` runs in bootstrap/ (bootstrap/Pulumi.yaml: main: .)."""

import sys
from pathlib import Path

# The engine runs this file by path; make the repository root importable so `bootstrap` and `components` resolve.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bootstrap.program import main  # noqa: E402

main()
