"""Lustre near full, as a CloudWatch alarm: FSx for Lustre publishes its capacity to CloudWatch (namespace AWS/FSx,
FreeDataStorageCapacity in bytes per FileSystemId: FSx for Lustre user guide, "Monitoring with Amazon CloudWatch"),
not to Prometheus. The FSx CSI driver does not implement NodeGetVolumeStats (kubernetes-sigs/aws-fsx-csi-driver
pkg/driver/node.go returns Unimplemented), so the kubelet has no volume stats for the Lustre claims either.

The alarm goes to ALARM when the free capacity stays under `free_fraction` of the file system for 15 minutes. It has
no notification target of its own (none is configured in Crucible): it shows in CloudWatch and emits the
`CloudWatch Alarm State Change` EventBridge event an on-call integration subscribes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

GIB = 1024**3


@dataclass(frozen=True)
class LustreAlarmsArgs:
    file_system_id: pulumi.Input[str]
    capacity_gib: pulumi.Input[int]
    stack_name: str
    free_fraction: float = 0.10


class LustreAlarms(pulumi.ComponentResource):
    def __init__(self, name: str, args: LustreAlarmsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:LustreAlarms", name, None, opts)
        self.near_full = aws.cloudwatch.MetricAlarm(
            f"{name}-near-full",
            name=f"crucible-{args.stack_name}-lustre-near-full",
            alarm_description=f"FSx for Lustre has less than {args.free_fraction:.0%} of its capacity free for 15 minutes",
            namespace="AWS/FSx",
            metric_name="FreeDataStorageCapacity",
            dimensions={"FileSystemId": args.file_system_id},
            statistic="Minimum",
            period=300,
            evaluation_periods=3,
            comparison_operator="LessThanThreshold",
            threshold=pulumi.Output.from_input(args.capacity_gib).apply(lambda gib: float(gib) * GIB * args.free_fraction),
            treat_missing_data="missing",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
