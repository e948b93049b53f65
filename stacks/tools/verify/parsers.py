"""The parsers verify reads its workloads' output with: components/benchmarks.py (shared with the fleet health canary,
addons/health_canary.py, which runs them in the cluster; addons/ cannot import stacks/)."""

from components.benchmarks import NcclResult, NcclRow, ParseError, Throughput, network_ratio, parse_dd, parse_dd_streams, parse_fio_json, parse_nccl

__all__ = ["NcclResult", "NcclRow", "ParseError", "Throughput", "network_ratio", "parse_dd", "parse_dd_streams", "parse_fio_json", "parse_nccl"]
