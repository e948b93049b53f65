"""Test data for `crucible verify`: a plan document in the shape `crucible plan --json` writes (captured
resources plus the capacity and storage sections), and tool output in the tools' documented formats.

The per-node figures below are plan fixture data (what the capacity section would carry from the catalog), not
instance facts the code relies on.
"""

from __future__ import annotations

import copy


def _res(type_: str, name: str, inputs: dict) -> dict:
    return {"urn": f"urn:pulumi:test::crucible::{type_}::{name}", "type": type_, "name": name, "parent": None, "inputs": inputs, "custom": True}


def nodepool(pool: str, instance_types: list[str], accelerator: str | None, workload: str = "training") -> dict:
    spec = {
        "template": {
            "metadata": {"labels": {"crucible.io/pool": pool, "crucible.io/workload": workload}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool},
                "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": instance_types}],
            },
        }
    }
    if accelerator:
        spec["template"]["spec"]["taints"] = [{"key": accelerator, "value": "true", "effect": "NoSchedule"}]
    return _res("kubernetes:karpenter.sh/v1:NodePool", pool, {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": pool}, "spec": spec})


def nodeclass(pool: str, efa: int) -> dict:
    interfaces = []
    if efa:
        interfaces = [
            {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
            {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"},
        ]
        interfaces += [{"networkCardIndex": c, "deviceIndex": 0, "interfaceType": "efa-only"} for c in range(1, efa)]
    spec = {"role": "node", **({"networkInterfaces": interfaces} if interfaces else {})}
    return _res(
        "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
        pool,
        {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": pool}, "spec": spec},
    )


CAPACITY = {
    "train": {
        "pool": "train",
        "kind": "gpu",
        "instanceTypes": ["p5.48xlarge"],
        "acceleratorResource": "nvidia.com/gpu",
        "efaInterfacesPerNode": 32,
        "networkGbpsPerNode": 3200,
        "types": [{"instanceType": "p5.48xlarge", "nodes": 4, "accelerators": 32, "efaMaxPerNode": 32, "networkGbpsPerNode": 3200}],  # totals at max nodes
    },
    "cpu": {
        "pool": "cpu",
        "kind": "cpu",
        "instanceTypes": ["m7i.2xlarge"],
        "acceleratorResource": None,
        "efaInterfacesPerNode": 0,
        "networkGbpsPerNode": 12.5,
        "types": [{"instanceType": "m7i.2xlarge", "nodes": 10, "accelerators": 0, "networkGbpsPerNode": 12.5}],
    },
}


def plan_document(capacity: bool = True, storage: bool = True, hub: bool = True) -> dict:
    resources = [
        nodepool("train", ["p5.48xlarge"], "nvidia.com/gpu"),
        nodeclass("train", 32),
        nodepool("cpu", ["m7i.2xlarge"], None, workload="interactive"),
        nodeclass("cpu", 0),
        _res(
            "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor",
            "train",
            {"metadata": {"name": "train"}, "spec": {"nodeLabels": {"karpenter.sh/nodepool": "train"}}},
        ),
        _res(
            "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue",
            "research",
            {
                "metadata": {"name": "research"},
                "spec": {"resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [{"name": "train", "resources": []}]}]},
            },
        ),
        _res(
            "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue",
            "research-training",
            {"metadata": {"name": "training", "namespace": "team-research"}, "spec": {"clusterQueue": "research"}},
        ),
        _res(
            "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue",
            "vision-training",
            {"metadata": {"name": "training", "namespace": "team-vision"}, "spec": {"clusterQueue": "research"}},
        ),
        _res(
            "kubernetes:core/v1:PersistentVolume",
            "lustre",
            {"metadata": {"name": "lustre"}, "spec": {"csi": {"driver": "fsx.csi.aws.com", "volumeHandle": "fs-0123"}}},
        ),
        _res(
            "kubernetes:core/v1:PersistentVolumeClaim",
            "lustre",
            {"metadata": {"name": "lustre", "namespace": "shared-data"}, "spec": {"volumeName": "lustre", "storageClassName": ""}},
        ),
        _res(
            "kubernetes:core/v1:PersistentVolumeClaim", "home", {"metadata": {"name": "home", "namespace": "shared-data"}, "spec": {"storageClassName": "gp3"}}
        ),
    ]
    if hub:
        resources.append(_res("kubernetes:helm.sh/v3:Release", "jupyterhub", {"chart": "jupyterhub", "namespace": "jupyterhub", "version": "4.4.0"}))
    document = {"stack": "test", "project": "crucible", "resources": resources, "outputs": {}}
    if capacity:
        document["capacity"] = copy.deepcopy(CAPACITY)
    if storage:
        document["storage"] = {"fileSystems": [{"name": "lustre", "zone": "us-east-1a", "throughputMbps": 1200.0, "writeThroughputMbps": 1200.0}]}
    return document


NCCL_ROWS = [
    (8, 2, 63.02, 0.00, 0.00, 62.11, 0.00, 0.00),
    (1048576, 262144, 95.41, 10.99, 20.61, 94.87, 11.05, 20.72),
    (134217728, 33554432, 1123.4, 119.47, 224.01, 1119.8, 119.86, 224.74),
    (1073741824, 268435456, 7245.1, 148.20, 277.88, 7239.6, 148.31, 278.09),
    (8589934592, 2147483648, 56215.3, 152.80, 286.50, 56102.7, 153.11, 287.08),
]


def nccl_log(
    rows=NCCL_ROWS,
    transport_line: str = "NCCL INFO NET/OFI Selected provider is efa, fabric is efa-direct (found 32 nics)",
    wrong: int = 0,
    avg: float = 162.61,
) -> str:
    """all_reduce_perf output as mpirun prints it: header, rank list, interleaved NCCL INFO lines, the table."""
    out = [
        "# nThread 1 nGpus 1 minBytes 8 maxBytes 8589934592 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0",
        "#",
        "# Using devices",
        "#  Rank  0 Group  0 Pid     45 on cv-nccl-train-worker-0 device  0 [0x53] NVIDIA H100 80GB HBM3",
        "#  Rank  8 Group  0 Pid     44 on cv-nccl-train-worker-1 device  0 [0x53] NVIDIA H100 80GB HBM3",
        "cv-nccl-train-worker-0:45:45 [0] NCCL INFO Bootstrap : Using eth0:10.1.2.3<0>",
        f"cv-nccl-train-worker-0:45:45 [0] {transport_line}",
        "cv-nccl-train-worker-0:45:45 [0] NCCL INFO Using network AWS Libfabric"
        if "efa" in transport_line
        else "cv-nccl-train-worker-0:45:45 [0] NCCL INFO Using network Socket",
        "#",
        "#                                                              out-of-place                       in-place          ",
        "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong",
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       ",
    ]
    for size, count, t1, a1, b1, t2, a2, b2 in rows:
        out.append(
            f"{size:>12}  {count:>12}     float     sum      -1  {t1:>7}  {a1:>6.2f}  {b1:>6.2f}  {wrong:>5}  {t2:>7}  {a2:>6.2f}  {b2:>6.2f}  {wrong:>5}"
        )
        if size == 1048576:
            out.append("cv-nccl-train-worker-1:44:60 [0] NCCL INFO Channel 00/0 : 8[0] -> 0[0] [receive] via NET/AWS Libfabric/0/GDRDMA")
    out += ["# Out of bounds values : 0 OK", f"# Avg bus bandwidth    : {avg} ", "#", ""]
    return "\n".join(out)


DD_GNU = "1024+0 records in\n1024+0 records out\n1073741824 bytes (1.1 GB, 1.0 GiB) copied, 1.79443 s, 598 MB/s\n"
DD_BUSYBOX = "1024+0 records in\n1024+0 records out\n1073741824 bytes (1.0GB) copied, 1.794430 seconds, 570.7MB/s\n"

FIO_JSON = """note: both iodepth >= 1 and synchronous I/O engine are selected, queue depth will be capped at 1
{
  "fio version" : "fio-3.36",
  "timestamp" : 1767225600,
  "time" : "Thu Jan  1 00:00:00 2026",
  "global options" : {},
  "jobs" : [
    {
      "jobname" : "verify",
      "groupid" : 0,
      "error" : 0,
      "eta" : 0,
      "elapsed" : 2,
      "job options" : {"name" : "verify", "rw" : "write", "bs" : "1M", "size" : "1024M", "direct" : "1"},
      "read" : {"io_bytes" : 0, "io_kbytes" : 0, "bw_bytes" : 0, "bw" : 0, "iops" : 0.0, "runtime" : 0},
      "write" : {"io_bytes" : 1073741824, "io_kbytes" : 1048576, "bw_bytes" : 612892000, "bw" : 598527, "bw_min" : 512000, "bw_max" : 655360, "iops" : 584.49, "runtime" : 1752}
    }
  ],
  "disk_util" : []
}
"""


def dd_streams(streams: int = 4, seconds: float = 1.79443) -> str:
    """`streams` GNU dd processes writing 1 GiB each at once, their summaries interleaved as a shell prints them."""
    return "".join(
        f"1024+0 records in\n1024+0 records out\n1073741824 bytes (1.1 GB, 1.0 GiB) copied, {seconds + i * 0.01:.5f} s, 598 MB/s\n" for i in range(streams)
    )
