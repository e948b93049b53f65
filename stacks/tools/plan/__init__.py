"""`crucible plan`: run the program offline for a stack config and report what it would create."""
