"""The verify report: a table for people and a JSON document (`--json FILE`)."""

from __future__ import annotations

import textwrap

from stacks.tools.verify.runner import VerifyResult
from stacks.tools.verify.targets import VerifyTargets

MARK = {"pass": "PASS", "fail": "FAIL", "timeout": "TIMEOUT", "skip": "skip"}
COLUMNS = ("check", "target", "status", "measured", "expected", "detail")


def render_table(result: VerifyResult, targets: VerifyTargets, server: str, detail_width: int = 70) -> list[str]:
    rows = [COLUMNS]
    for r in result.rows:
        rows.append((r.check, r.target, MARK.get(r.status, r.status), r.measured, r.expected, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [f"crucible verify: stack {targets.stack} on {server} (run {result.run_id})", ""]
    for index, row in enumerate(rows):
        head = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        detail = textwrap.wrap(row[-1], detail_width) or [""]
        lines.append(f"{head}  {detail[0]}".rstrip())
        lines.extend(f"{' ' * (len(head) + 2)}{more}" for more in detail[1:])
        if index == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    counts = {s: sum(1 for r in result.rows if r.status == s) for s in ("pass", "fail", "timeout", "skip")}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" in {result.elapsed:.1f}s")
    clean = result.cleanup
    if clean.ok:
        lines.append(f"cleanup: deleted {len(clean.deleted)} objects labelled crucible.io/verify={result.run_id}")
    else:
        lines.append(f"cleanup: {len(clean.errors)} problems (objects labelled crucible.io/verify={result.run_id} may be left):")
        lines.extend(f"  {e}" for e in clean.errors)
    for note in targets.notes:
        lines.append(f"note: {note}")
    if result.interrupted:
        lines.append("interrupted: the run was stopped (Ctrl-C) and cleaned up")
    lines.append("verify " + ("PASSED" if result.passed else "FAILED"))
    return lines


def document(result: VerifyResult, targets: VerifyTargets, server: str, exit_code: int) -> dict:
    return {
        "stack": targets.stack,
        "server": server,
        "runId": result.run_id,
        "passed": result.passed,
        "exitCode": exit_code,
        "interrupted": result.interrupted,
        "elapsedSeconds": round(result.elapsed, 2),
        "checks": [r.to_json() for r in result.rows],
        "cleanup": result.cleanup.to_json(),
        "targets": targets.to_json(),
    }
