import sys
from pathlib import Path

# The policy tests import their fixture builder as a top-level module (no __init__.py here: a `tests/policies`
# package would shadow the `policies` package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
