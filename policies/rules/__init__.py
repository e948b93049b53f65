"""The catalogue rules, one module per area; each module exposes ``POLICIES`` in catalogue order."""
