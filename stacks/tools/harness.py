"""Run the real Crucible program under Pulumi's mocks and capture every resource it registers.

No engine, no CLI, no provider plugins, no credentials, no network: `pulumi.runtime.set_mocks` replaces the
engine, :class:`CrucibleMocks` answers invokes and fills the outputs a provider would compute, and
:class:`CapturingMonitor` records what the engine would receive for each resource (parent, dependencies,
provider, protect, retain-on-delete, aliases…). This is the base of every test and of `crucible plan`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import threading
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.sync_await import _ensure_event_loop

from components.partitions import Partition, partition_of

ACCOUNT_ID = "123456789012"
SECRET = "[secret]"


@dataclass
class CapturedResource:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict
    custom: bool
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    aliases: list[str]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    outputs: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("outputs")
        return data


@dataclass
class PlanRun:
    """What one run of the program registered."""

    stack: str
    project: str
    resources: list[CapturedResource]
    outputs: dict  # secrets masked: what reports and JSON show
    raw_outputs: dict = field(default_factory=dict, repr=False)  # secrets in clear: what a StackReference reads
    engine_warnings: list[str] = field(default_factory=list)  # what the program logged with pulumi.log.warn (`pulumi up` shows them)

    def of_type(self, type_token: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: Optional[str] = None) -> CapturedResource:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_token)]
            raise LookupError(f"expected one {type_token} named {name!r}, found {len(found)} among {names}")
        return found[0]

    def by_urn(self, urn: str) -> CapturedResource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise LookupError(urn)

    def children_of(self, urn: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.parent == urn]

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "project": self.project,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }


_EC2_ID_PREFIX = {
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/placementGroup:PlacementGroup": "pg",
    "aws:fsx/lustreFileSystem:LustreFileSystem": "fs",
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": "dra",
}


def _service_of(type_token: str) -> str:
    # aws:ec2/vpc:Vpc -> ec2
    return type_token.split(":")[1].split("/")[0] if type_token.count(":") >= 2 else "resource"


def _stable_suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


def mock_resource_id(typ: str, name: str) -> str:
    """The id the mocks give a resource of a type in _EC2_ID_PREFIX (a saved plan keeps only the ids other
    resources reference: checks over it map a registered security group to its id with this)."""
    return f"{_EC2_ID_PREFIX[typ]}-{_stable_suffix(typ, name)}0000000"


class CrucibleMocks(pulumi.runtime.Mocks):
    """Deterministic stand-ins for what AWS and Kubernetes providers would return."""

    def __init__(self, region: str = "us-east-1", stack_outputs: Optional[Mapping[str, Mapping[str, Any]]] = None, account_id: str = ACCOUNT_ID):
        self.region = region
        self.account_id = account_id  # the caller identity's account: what names that must be unique per account use
        self.partition = partition_of(region)  # every ARN and endpoint the mocks fabricate is in the region's partition
        self.stack_outputs = dict(stack_outputs or {})

    # -- resources ------------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs.get("name", args.name)
            if name not in self.stack_outputs:
                raise LookupError(f"stack reference {name!r}: no outputs known to the harness; pass them with stack_outputs")
            return name, {"name": name, "outputs": dict(self.stack_outputs[name]), "secretOutputNames": []}
        if not args.custom:
            return "", {}
        physical = args.inputs.get("name") if isinstance(args.inputs.get("name"), str) else None
        physical = physical or f"{args.name}-{_stable_suffix(args.typ, args.name)}"
        resource_id = f"{physical}-id" if args.typ.startswith("aws:ec2") else physical
        if args.typ in _EC2_ID_PREFIX:  # ids that other resources select by pattern (Karpenter: sg-…, subnet-…)
            resource_id = mock_resource_id(args.typ, args.name)
        outputs = dict(args.inputs)
        outputs.setdefault("arn", self.partition.arn(_service_of(args.typ), self.region, self.account_id, f"{args.name}/{physical}"))
        outputs.setdefault("name", physical)
        outputs.update(_computed_outputs(args.typ, args.name, physical, args.inputs, self.region, self.partition))
        return resource_id, outputs

    def _endpoint_service(self, query: Mapping[str, Any]) -> dict:
        """EC2 DescribeVpcEndpointServices as the provider's data source asks it. The service's real name:
        com.amazonaws.<region>.<service>, except that in China most interface services carry the partition's
        reverse-DNS prefix (cn.com.amazonaws); gateway endpoints keep com.amazonaws. A `service` argument makes the
        provider look for com.amazonaws.<region>.<service> only; `filters` on service-name match any listed name.
        No match is the provider's error, as in a real region."""
        kind = query.get("serviceType", "Interface")
        if query.get("service"):
            service, wanted = query["service"], [f"com.amazonaws.{self.region}.{query['service']}"]
        else:
            wanted = [v for f in query.get("filters") or [] if f.get("name") == "service-name" for v in f.get("values", [])]
            service = wanted[0].split(f".{self.region}.", 1)[-1] if wanted else ""  # ecr.dkr, not dkr
        prefix = "com.amazonaws" if kind == "Gateway" else self.partition.reverse_dns_prefix
        real = f"{prefix}.{self.region}.{service}"
        if real not in wanted:
            raise Exception(f"no matching EC2 VPC Endpoint Service found (wanted {wanted}, {self.region} lists {real})")
        return {"service": service, "serviceName": real, "serviceType": kind, "id": real}

    # -- invokes --------------------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs):
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            account = self.account_id
            arn = self.partition.arn("iam", account=account, resource="user/crucible-plan")
            return {"accountId": account, "arn": arn, "userId": "AIDACRUCIBLEPLAN", "id": account}
        if token == "aws:index/getPartition:getPartition":
            p = self.partition
            reverse = ".".join(reversed(p.dns_suffix.split(".")))
            return {"partition": p.name, "dnsSuffix": p.dns_suffix, "id": p.name, "reverseDnsPrefix": reverse}
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region, "endpoint": self.partition.endpoint("ec2", self.region)}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abcdef"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 7)], "id": self.region}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": _policy_document_json(args.args), "id": "policy"}
        if token == "aws:ec2/getVpcEndpointService:getVpcEndpointService":
            return self._endpoint_service(args.args)
        if token == "aws:ssm/getParameter:getParameter":
            name = args.args.get("name", "")
            return {"name": name, "value": f"ami-{_stable_suffix(name)}0000000", "type": "String", "id": name}
        raise NotImplementedError(f"the plan harness has no mock for invoke {token}; add one to CrucibleMocks.call")


def _computed_outputs(typ: str, name: str, physical: str, inputs: Mapping[str, Any], region: str, partition: Partition) -> dict:
    """Outputs a real provider computes that the program reads, in the region's partition."""
    dns = partition.dns_suffix
    if typ == "aws:eks/cluster:Cluster":
        suffix = _stable_suffix(physical).upper()
        return {
            "endpoint": f"https://{suffix}.gr7.{region}.eks.{dns}",
            "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.{dns}/id/{suffix}"}]}],
            "vpcConfig": {**dict(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_stable_suffix(physical, 'cluster')}", "vpcId": "vpc-mock"},
            "status": "ACTIVE",
            "platformVersion": "eks.1",
        }
    if typ == "aws:iam/role:Role":
        return {"arn": partition.arn("iam", account=ACCOUNT_ID, resource=f"role/{physical}"), "uniqueId": f"AROA{_stable_suffix(physical).upper()}"}
    if typ == "aws:iam/policy:Policy":
        return {"arn": partition.arn("iam", account=ACCOUNT_ID, resource=f"policy/{physical}")}
    if typ == "aws:iam/instanceProfile:InstanceProfile":
        return {"arn": partition.arn("iam", account=ACCOUNT_ID, resource=f"instance-profile/{physical}")}
    if typ == "aws:kms/key:Key":
        key_id = f"{_stable_suffix(name)}-0000-4000-8000-{_stable_suffix(name, 'key')}0000"
        return {"arn": partition.arn("kms", region, ACCOUNT_ID, f"key/{key_id}"), "keyId": key_id}
    if typ == "aws:sqs/queue:Queue":
        return {"arn": partition.arn("sqs", region, ACCOUNT_ID, physical), "url": f"https://sqs.{region}.{dns}/{ACCOUNT_ID}/{physical}"}
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or physical
        return {"bucket": bucket, "arn": partition.arn("s3", resource=bucket), "bucketRegionalDomainName": f"{bucket}.s3.{region}.{dns}"}
    if typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
        return {"dnsName": f"fs-{_stable_suffix(physical)}.fsx.{region}.{dns}", "mountName": _stable_suffix(physical, "mount")}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1, "defaultVersion": 1}
    if typ == "aws:eks/nodeGroup:NodeGroup":
        return {"status": "ACTIVE"}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": partition.arn("logs", region, ACCOUNT_ID, f"log-group:{inputs.get('name', physical)}")}
    if typ == "aws:sns/topic:Topic":
        return {"arn": partition.arn("sns", region, ACCOUNT_ID, inputs.get("name", physical))}
    return {}


def _policy_document_json(args: Mapping[str, Any]) -> str:
    """Render getPolicyDocument inputs the way AWS does (Sid/Effect/Action/Resource/Principal/Condition)."""
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect", "Allow")
        for src, dst in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource"), ("notResources", "NotResource")):
            if st.get(src):
                values = list(st[src])
                out[dst] = values[0] if len(values) == 1 else values
        for src, dst in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(src):
                principal: dict[str, Any] = {}
                for p in st[src]:
                    ids = list(p["identifiers"])
                    principal[p["type"]] = ids[0] if len(ids) == 1 else ids
                out[dst] = principal
        if st.get("conditions"):
            condition: dict[str, dict[str, Any]] = {}
            for c in st["conditions"]:
                values = list(c["values"])
                condition.setdefault(c["test"], {})[c["variable"]] = values[0] if len(values) == 1 else values
            out["Condition"] = condition
        statements.append(out)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=False)


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also records the resource options the engine would see.

    Its calls run on the thread of the program's event loop, handed over at once by :class:`InlineExecutor`, so
    the answers are computed here rather than through the SDK's MockMonitor methods: those serialize the answer
    with ``_sync_await``, which on the loop's own thread would run the loop again under the call (another
    registration would then run inside this one). The answer is serialized by :func:`settled` instead, which needs
    no loop: the mocks answer plain values. On any other thread (where the executor hands a call that has to wait)
    the SDK's way is used."""

    def __init__(self, mocks: CrucibleMocks, on_register: Optional[Callable[[CapturedResource], None]] = None):
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []
        self.stack_urn: Optional[str] = None
        self.on_register = on_register
        self._lock = threading.Lock()

    def _capture(self, captured: CapturedResource) -> None:
        with self._lock:
            self.captured.append(captured)
        if self.on_register is not None:
            self.on_register(captured)

    def _answer(self, urn: str, args: Any) -> tuple[str, dict, Any]:
        """The mocks' id and state for a resource, and the state serialized for the SDK; the resource is recorded as
        registered (what the SDK's `getResource` invoke reads back)."""
        from pulumi.runtime import rpc

        resource_id, state = self.mocks.new_resource(args)
        answer = settled(rpc.serialize_properties(state, {}))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        return resource_id, state, answer

    def _record(self, request: Any, urn: str, inputs: dict, **options: Any) -> None:
        self._capture(
            CapturedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                inputs=to_plain(inputs),
                # the SDK gathers dependencies in sets: sorted, they read the same on every run
                dependencies=sorted(set(request.dependencies)),
                provider=request.provider,
                **options,
            )
        )

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        from pulumi.runtime import rpc
        from pulumi.runtime.proto import resource_pb2

        if request.type == "pulumi:pulumi:Stack":
            response = super().RegisterResource(request)
            self.stack_urn = response.urn
            return response
        urn = self.make_urn(request.parent, request.type, request.name)
        _ensure_event_loop()  # deserializing a resource reference needs one (a call handed to a thread has none yet)
        inputs = rpc.deserialize_properties(request.object)
        args = pulumi.runtime.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=pulumi_mocks._resolve_callbacks(request.transforms),
        )
        resource_id, state, answer = self._answer(urn, args)
        self._record(
            request,
            urn,
            inputs,
            custom=bool(request.custom),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            aliases=[a.urn or a.spec.name for a in request.aliases] + list(request.aliasURNs),
            property_dependencies={k: sorted(set(request.propertyDependencies[k].urns)) for k in sorted(request.propertyDependencies)},
            outputs=to_plain(state),
        )
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=answer)

    def ReadResource(self, request):  # noqa: N802 - gRPC method name
        """Reads (StackReference, `get` functions) are recorded too, with ``custom`` true and no options."""
        from pulumi.runtime import rpc
        from pulumi.runtime.proto import resource_pb2

        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.properties)
        args = pulumi.runtime.MockResourceArgs(typ=request.type, name=request.name, inputs=inputs, provider=request.provider, resource_id=request.id)
        urn = self.make_urn(request.parent, request.type, request.name)
        _, _, answer = self._answer(urn, args)
        self._record(
            request,
            urn,
            inputs,
            custom=True,
            protect=False,
            retain_on_delete=False,
            delete_before_replace=False,
            ignore_changes=[],
            aliases=[],
            property_dependencies={},
        )
        return resource_pb2.ReadResourceResponse(urn=urn, properties=answer)

    def Invoke(self, request):  # noqa: N802 - gRPC method name
        from pulumi.runtime import rpc
        from pulumi.runtime.proto import provider_pb2, resource_pb2

        _ensure_event_loop()
        args = rpc.deserialize_properties(request.args)
        if request.tok == "pulumi:pulumi:getResource":
            found = self.resources.get(args["urn"])
            if found is None:
                raise Exception(f"unknown resource {args['urn']}")
            return resource_pb2.ResourceInvokeResponse(failures=None, **{"return": settled(rpc.serialize_properties(found._asdict(), {}))})
        answer = self.mocks.call(pulumi.runtime.MockCallArgs(token=request.tok, args=args, provider=request.provider))
        values, failures = (answer, None) if isinstance(answer, dict) else (answer[0], [provider_pb2.CheckFailure(property=p, reason=r) for p, r in answer[1]])
        return resource_pb2.ResourceInvokeResponse(failures=failures, **{"return": settled(rpc.serialize_properties(values, {}))})


class MustWait(Exception):
    """Raised by :func:`settled` on the event loop's thread when the coroutine would have to wait."""


def settled(awaitable: Any) -> Any:
    """The value of ``awaitable`` (the SDK's serialization of a mock's answer). On the event loop's thread it is run
    to its end here, without the loop: serializing plain values, or resources whose URNs are known, never waits;
    one that would raises MustWait, and :class:`InlineExecutor` hands the call to a thread instead. On any other
    thread, the SDK's ``_sync_await`` (a loop of that thread's own)."""
    import asyncio

    from pulumi.runtime.sync_await import _sync_await

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop runs on this thread
        return _sync_await(awaitable)
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    raise MustWait()


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """The executor of the program's event loop during a run: what the SDK hands it (a call to the mock monitor)
    runs at once, on the loop's thread. Against a real engine each call is a gRPC round trip and needs a thread;
    against the mocks it is microseconds of Python, and the hand-offs to the SDK's six threads and back (each a
    wait for the interpreter lock) were a fifth to a quarter of a warm program run's CPU. A call that would have to wait (MustWait) goes
    to a thread after all, as with the SDK's default executor."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except MustWait:
            return super().submit(fn, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - the caller's future carries it, as a thread's would
            future.set_exception(error)
        return future


@contextlib.contextmanager
def _inline_calls() -> Iterator[None]:
    """The program's event loop runs the mock monitor's calls inline (InlineExecutor) for the duration of a run."""
    loop = _ensure_event_loop()
    previous = loop._default_executor  # type: ignore[attr-defined]  # no public getter; restored as it was
    inline = InlineExecutor(max_workers=2, thread_name_prefix="crucible-mocks")
    loop.set_default_executor(inline)
    try:
        yield
    finally:
        loop._default_executor = previous  # type: ignore[attr-defined]
        inline.shutdown(wait=False)


def to_plain(value: Any) -> Any:
    """Make captured values JSON-friendly: secrets masked, unknowns named, resources by URN."""
    from pulumi.runtime import rpc

    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire has only doubles; give back the whole numbers the program wrote
    if isinstance(value, (str, int, float, bool)) or value is None:
        if value == rpc.UNKNOWN:
            return "[unknown]"
        return value
    if isinstance(value, pulumi.Resource):
        return f"[resource {type(value).__name__}]"
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return f"[{type(value).__name__}]"
    return repr(value)


@contextlib.contextmanager
def _no_source_positions() -> Iterator[None]:
    """The SDK walks the Python stack of every resource it registers to tell the engine where in the program it was
    declared (``sourcePosition``, ``stackTrace``: a traceback and a file URI per frame). Nothing offline reads them
    (the mock monitor drops them, a plan does not show them): skipping the walk saves a tenth of a plan."""
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    saved = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = saved


def run_program(
    program: Callable[[], Any],
    *,
    stack: str,
    config: Mapping[str, str],
    secret_keys: Optional[list[str]] = None,
    project: str = "crucible",
    region: str = "us-east-1",
    stack_outputs: Optional[Mapping[str, Mapping[str, Any]]] = None,
    account_id: str = ACCOUNT_ID,
    on_register: Optional[Callable[[CapturedResource], None]] = None,
) -> PlanRun:
    """Run ``program`` (the Pulumi program body) with ``config`` under mocks; return what it registered.

    ``on_register`` is called with each CapturedResource as it is captured, on the thread that registered it, while
    the program runs (registration order, not the creation order of the result); it must not change what it gets."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    mocks = CrucibleMocks(region=region, stack_outputs=stack_outputs, account_id=account_id)
    monitor = CapturingMonitor(mocks, on_register=on_register)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys or []))
    # A fresh root stack resource per run: set_mocks keeps the previous one, and with it the previous run's exports
    # (a second plan in one process, e.g. a referenced stack or `crucible diff`, would show the first one's outputs).
    from pulumi.runtime.settings import ROOT

    ROOT.set(None)
    engine_log = _EngineLog()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=engine_log.logger)
    exported: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    @pulumi.runtime.test
    def run() -> Any:
        program()
        outputs = dict(getattr(pulumi.runtime.get_root_resource(), "outputs", {}) or {})

        async def collect() -> None:
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                exported[key] = await output.future()
                if await output.is_secret():
                    secret_outputs.add(key)

        return pulumi.Output.from_input(collect())

    try:
        with _no_source_positions(), _inline_calls():
            run()
    finally:
        pulumi.runtime.set_all_config({}, [])
    _assert_unique_urns(monitor.captured)
    resources = creation_order(monitor.captured)
    plain_outputs = {k: (SECRET if k in secret_outputs else to_plain(v)) for k, v in exported.items()}
    return PlanRun(
        stack=stack, project=project, resources=resources, outputs=plain_outputs, raw_outputs=to_plain(exported), engine_warnings=engine_log.warnings
    )


class _EngineLog(logging.Handler):
    """The engine's log under mocks (pulumi.log.*): warnings recorded for the run, not printed (the CLI prints the
    spec's warnings itself), everything else dropped."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.warnings: list[str] = []
        self.logger = logging.Logger("crucible.engine", level=logging.WARNING)  # not registered: no handler but this one
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.warnings.append(record.getMessage())


def creation_order(resources: list[CapturedResource]) -> list[CapturedResource]:
    """The captured resources in a deterministic order that respects creation: every resource after its parent,
    its provider and its dependencies; among those ready at once, by URN.

    The monitor receives registrations in the order the SDK's tasks get to them, which changes with PYTHONHASHSEED
    (and changed from run to run while the calls went through the SDK's executor threads): listing them as received
    makes two plans of the same stack differ. This order is a function
    of the graph alone."""
    import heapq

    by_urn = {r.urn: r for r in resources}
    before: dict[str, set[str]] = {}
    for r in resources:
        provider = r.provider.rsplit("::", 1)[0] if r.provider else ""
        wanted = {r.parent, provider, *r.dependencies, *(u for urns in r.property_dependencies.values() for u in urns)}
        before[r.urn] = {u for u in wanted if u and u != r.urn and u in by_urn}
    after: dict[str, list[str]] = {urn: [] for urn in by_urn}
    for urn, needs in before.items():
        for need in needs:
            after[need].append(urn)
    waiting = {urn: len(needs) for urn, needs in before.items()}
    ready = [urn for urn, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[CapturedResource] = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for nxt in after[urn]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(ordered) != len(resources):  # a cycle cannot be registered by a real program; keep every resource anyway
        placed = {r.urn for r in ordered}
        ordered += sorted((r for r in resources if r.urn not in placed), key=lambda r: r.urn)
    return ordered


def _assert_unique_urns(resources: list[CapturedResource]) -> None:
    seen: set[str] = set()
    for r in resources:
        if r.urn in seen:
            raise RuntimeError(f"duplicate resource URN {r.urn}: two resources share a type and name under one parent")
        seen.add(r.urn)
