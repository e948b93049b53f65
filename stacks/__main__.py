"""Entry point `pulumi up` runs (Pulumi.yaml: main: stacks/)."""

import sys
from pathlib import Path

# The engine runs this file by path; make the project root importable so `stacks`, `components`, `addons` resolve.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.program import main  # noqa: E402

main()
