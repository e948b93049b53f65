"""`crucible verify`: post-deploy checks against the real cluster `pulumi up` built.

What is expected comes from the stack's plan (`crucible plan --json`): see targets.py. How the cluster is reached:
kube.py (a small JSON-over-HTTPS client on urllib, no extra dependency). What is checked: checks/. Deadlines and
cleanup: runner.py. Table and JSON: report.py.

Exit codes: 0 every check passed; 1 a check failed (or timed out); 2 bad arguments or config; 4 cluster unreachable.
"""

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 4
VERIFY_LABEL = "crucible.io/verify"
