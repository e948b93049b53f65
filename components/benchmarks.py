"""Parsers for what the benchmark workloads print: nccl-tests `all_reduce_perf`, GNU/busybox `dd`, `fio --output-format=json`.

Pure functions over text; each raises ParseError with a short reason when the output is not what the tool prints.
Two readers share them: `crucible verify` (stacks/tools/verify/parsers.py re-exports them) and the fleet health
canary (addons/health_canary.py), which ships this very file in its ConfigMap and imports it in the cluster. So the
module stays standard-library Python and imports nothing else of Crucible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional


class ParseError(ValueError):
    pass


# ---- nccl-tests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NcclRow:
    size_bytes: int
    busbw_out_of_place: float  # GB/s
    busbw_in_place: float
    wrong: int  # -1: validation off (N/A)


@dataclass(frozen=True)
class NcclResult:
    rows: tuple[NcclRow, ...]
    avg_busbw_gbs: Optional[float]  # "# Avg bus bandwidth" (over every size)
    transport: Optional[str]  # efa | socket | None (NCCL_DEBUG=INFO lines absent)

    @property
    def peak_busbw_gbs(self) -> float:
        """The best bus bandwidth (GB/s) any size reached: large messages, where the network is the limit."""
        return max(max(r.busbw_out_of_place, r.busbw_in_place) for r in self.rows)

    @property
    def largest(self) -> NcclRow:
        return max(self.rows, key=lambda r: r.size_bytes)

    @property
    def wrong(self) -> int:
        return sum(r.wrong for r in self.rows if r.wrong > 0)

    def to_json(self) -> dict:
        return {
            "peakBusBandwidthGBps": self.peak_busbw_gbs,
            "avgBusBandwidthGBps": self.avg_busbw_gbs,
            "largestMessageBytes": self.largest.size_bytes,
            "sizes": len(self.rows),
            "wrong": self.wrong,
            "transport": self.transport,
        }


# `mpirun --tag-output` (the MPIJob's launcher) prefixes every line with the rank that printed it: Open MPI 4
# `[1,0]<stdout>:`, Open MPI 5 `[1,0]<stdout>: ` (jobid,rank and the stream).
_MPI_TAG = re.compile(r"^\[\d+,\d+\]<std(?:out|err)>:\s?")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[+-]?\d+)?$", re.I)


def _num(token: str) -> Optional[float]:
    return float(token) if _NUMBER.match(token) else None


def parse_nccl(text: str) -> NcclResult:
    """The result table of nccl-tests (`all_reduce_perf` and friends).

    Data rows: ``size count type redop root  time algbw busbw #wrong  time algbw busbw #wrong`` (out-of-place, then
    in-place; older releases have no `root` column; `#wrong` is N/A with `-c 0`). Lines of other ranks' NCCL logs
    (``host:pid:tid [0] NCCL INFO …``) may be interleaved by mpirun, and every line may carry the rank tag of
    `mpirun --tag-output` (``[1,0]<stdout>:``), which is removed first.
    """
    rows: list[NcclRow] = []
    avg: Optional[float] = None
    transport: Optional[str] = None
    for raw in text.splitlines():
        line = _MPI_TAG.sub("", raw, count=1)
        stripped = line.strip()
        if "NCCL INFO" in line:
            if re.search(r"NET/OFI.*[Ss]elected [Pp]rovider is efa", line) or "Using network AWS Libfabric" in line:
                transport = "efa"
            elif transport is None and ("NET/Socket" in line or "Using network Socket" in line):
                transport = "socket"
            continue
        match = re.match(r"#\s*Avg bus bandwidth\s*:\s*([\d.]+)", stripped)
        if match:
            avg = float(match.group(1))
            continue
        if not stripped or stripped.startswith("#"):
            continue
        tokens = stripped.split()
        if len(tokens) < 12 or not tokens[0].isdigit() or not tokens[1].isdigit():
            continue
        tail = tokens[-8:]  # time algbw busbw wrong (out-of-place), time algbw busbw wrong (in-place)
        values = [_num(t) for t in tail]
        if any(values[i] is None for i in (0, 1, 2, 4, 5, 6)):
            continue
        out_of_place, in_place = values[2], values[6]
        if out_of_place is None or in_place is None:  # checked above; said again for the type checker
            continue
        wrong = [int(v) if v is not None else -1 for v in (values[3], values[7])]
        rows.append(NcclRow(int(tokens[0]), out_of_place, in_place, max(wrong)))
    if not rows:
        raise ParseError("no nccl-tests result rows (expected `size count type redop root time algbw busbw #wrong …`)")
    return NcclResult(tuple(rows), avg, transport)


def network_ratio(busbw_gbs: float, network_gbps: Optional[float]) -> Optional[float]:
    """Bus bandwidth (GB/s, bytes) against the instance's network figure (Gbit/s): busbw × 8 / Gbps."""
    if not network_gbps:
        return None
    return busbw_gbs * 8 / network_gbps


# ---- dd / fio ---------------------------------------------------------------------------------------------

_UNITS = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


@dataclass(frozen=True)
class Throughput:
    bytes: int
    seconds: float
    mbps: float  # MB/s (10^6 bytes per second)
    tool: str

    def to_json(self) -> dict:
        return {"tool": self.tool, "bytes": self.bytes, "seconds": self.seconds, "writeMBps": round(self.mbps, 1)}


def parse_dd(text: str) -> Throughput:
    """The summary line of GNU coreutils or busybox `dd`:

    ``1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.893 s, 1.2 GB/s`` (GNU) or
    ``1073741824 bytes (1.0GB) copied, 0.893 seconds, 1.1GB/s`` (busybox). Throughput is bytes / seconds (the
    printed rate is rounded); a decimal comma (some locales) is accepted.
    """
    pattern = re.compile(r"(\d+) bytes\b.*?copied,\s*([\d.,]+)\s*s(?:econds?)?,\s*([\d.,]+)\s*([kKMGT]?i?)B/s")
    matches = list(pattern.finditer(text))
    if not matches:
        raise ParseError("no dd summary line (expected `N bytes (…) copied, S s, R MB/s`)")
    m = matches[-1]
    size = int(m.group(1))
    seconds = float(m.group(2).replace(",", "."))
    if seconds > 0:
        mbps = size / seconds / 1e6
    else:
        mbps = float(m.group(3).replace(",", ".")) * _UNITS[m.group(4)] / 1e6
    return Throughput(size, seconds, mbps, "dd")


def parse_dd_streams(text: str) -> Throughput:
    """Several `dd` processes writing at once (one summary line each): their bytes together over the slowest one's
    time, i.e. what the client wrote per second while all its streams ran."""
    pattern = re.compile(r"(\d+) bytes\b.*?copied,\s*([\d.,]+)\s*s(?:econds?)?,")
    found = [(int(m.group(1)), float(m.group(2).replace(",", "."))) for m in pattern.finditer(text)]
    if not found:
        raise ParseError("no dd summary line (expected `N bytes (…) copied, S s, R MB/s`)")
    if len(found) == 1:
        return parse_dd(text)
    total, seconds = sum(b for b, _ in found), max(t for _, t in found)
    return Throughput(total, seconds, total / seconds / 1e6 if seconds > 0 else 0.0, f"dd x{len(found)}")


def parse_fio_json(text: str) -> Throughput:
    """`fio --output-format=json`: the sum of the jobs' write `bw_bytes` (bytes/s; `bw` is KiB/s in older output).

    fio may print notes before the JSON document; they are skipped.
    """
    start = text.find("{")
    if start < 0:
        raise ParseError("no JSON document in the fio output")
    try:
        document, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError as exc:
        raise ParseError(f"fio output is not valid JSON: {exc}") from None
    jobs = document.get("jobs") or []
    if not jobs:
        raise ParseError("fio JSON has no jobs")
    errors = [j.get("jobname", "?") for j in jobs if j.get("error")]
    if errors:
        raise ParseError(f"fio jobs failed: {', '.join(errors)}")
    total_bytes, rate, seconds = 0, 0.0, 0.0
    for job in jobs:
        write = job.get("write") or {}
        total_bytes += int(write.get("io_bytes", 0))
        rate += float(write["bw_bytes"]) if "bw_bytes" in write else float(write.get("bw", 0)) * 1024
        seconds = max(seconds, float(write.get("runtime", 0)) / 1000)
    if total_bytes <= 0:
        raise ParseError("fio JSON reports no bytes written")
    return Throughput(total_bytes, seconds, rate / 1e6, "fio")
