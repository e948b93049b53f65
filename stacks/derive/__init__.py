"""Pure derivations from the spec: no Pulumi calls, reused by the program, `crucible plan` and the tests."""
