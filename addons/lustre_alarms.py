"""Lustre near full, as a CloudWatch alarm: FSx for Lustre publishes its capacity to CloudWatch (namespace AWS/FSx,
FreeDataStorageCapacity in bytes per FileSystemId, one data point per disk per minute: FSx for Lustre user guide,
"Monitoring with Amazon CloudWatch"), not to Prometheus. The FSx CSI driver does not implement NodeGetVolumeStats
(kubernetes-sigs/aws-fsx-csi-driver pkg/driver/node.go returns Unimplemented), so the kubelet has no volume stats for
the Lustre claims either.

What fills up first is a disk (an OST), not the file system: a file lives on the disks it is striped over, and a
write to a file on a full disk fails however much room the others have. The metric's `Minimum` is the bytes free on
the fullest disk and its `SampleCount` (over one minute) the number of disks, so with the file system's disks all the
same size the fullest disk's free fraction is `Minimum × SampleCount / capacity` (CloudWatch metric math). The alarm
goes to ALARM when that stays under `free_fraction` for 15 minutes.

It has no notification target of its own (none is configured in Crucible): it shows in CloudWatch and emits the
`CloudWatch Alarm State Change` EventBridge event an on-call integration subscribes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

GIB = 1024**3
PERIOD = 60  # seconds: one data point per disk, so SampleCount is the number of disks


@dataclass(frozen=True)
class LustreAlarmsArgs:
    file_system_id: pulumi.Input[str]
    capacity_gib: pulumi.Input[int]
    stack_name: str
    free_fraction: float = 0.10


class LustreAlarms(pulumi.ComponentResource):
    def __init__(self, name: str, args: LustreAlarmsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:LustreAlarms", name, None, opts)

        def free(stat: str) -> aws.cloudwatch.MetricAlarmMetricQueryMetricArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/FSx", metric_name="FreeDataStorageCapacity", dimensions={"FileSystemId": args.file_system_id}, period=PERIOD, stat=stat
            )

        self.near_full = aws.cloudwatch.MetricAlarm(
            f"{name}-near-full",
            name=f"crucible-{args.stack_name}-lustre-near-full",
            alarm_description=f"The fullest disk (OST) of FSx for Lustre has less than {args.free_fraction:.0%} of its capacity free for 15 minutes",
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="fullest", metric=free("Minimum")),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="disks", metric=free("SampleCount")),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="free",
                    expression=pulumi.Output.from_input(args.capacity_gib).apply(lambda gib: f"fullest * disks / {int(gib) * GIB}"),
                    label="free fraction of the fullest disk",
                    return_data=True,
                ),
            ],
            evaluation_periods=15 * 60 // PERIOD,
            comparison_operator="LessThanThreshold",
            threshold=args.free_fraction,
            treat_missing_data="missing",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
