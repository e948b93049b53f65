"""Evaluate the policy pack offline, the way `pulumi preview --policy-pack policies --policy-pack-config
policies/config/<env>.json` would -- for `crucible plan` / `crucible check`, with no CLI and no engine.

The pack runs through the SDK's own analyzer servicer (``pulumi_policy.policy._PolicyAnalyzerServicer``, what
``PolicyPack`` serves over gRPC) with the engine's messages (``pulumi.runtime.proto.analyzer_pb2``):
``GetAnalyzerInfo``, then ``Configure`` with the config reconciled as the CLI does it (schema defaults, then
``all``, then per-policy entries; validated against each policy's schema), then ``Analyze`` per resource and one
``AnalyzeStack``. Deserialisation, unknown handling, enforcement levels and messages are therefore the SDK's. What
the servicer repeats per policy (converting a resource, building the stack) is done once per evaluation
(:class:`_Shortcuts`), held to the SDK's own path verdict for verdict by a test.

Resources come in the plan JSON shape: ``{"urn", "type", "name", "parent", "inputs" (camelCase, as the engine
sends them), "protect", "retain_on_delete", "delete_before_replace", "ignore_changes", "aliases",
"dependencies", "property_dependencies" ({prop: [urn]}), "provider", "custom"}``; only urn, type and name are
required. A value unknown at preview is the engine's sentinel (``pulumi.runtime.rpc.UNKNOWN``) or the plan
JSON marker ``"[unknown]"``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.pack import PACK_ENFORCEMENT, PACK_NAME, all_policies

CONFIG_DIR = Path(__file__).resolve().parent / "config"
PLAN_UNKNOWN = "[unknown]"
PACK_VERSION = "0.0.1"  # the version the servicer reports in its messages
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_OF_PROTO = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_PROTO_OF_LEVEL = {v: k for k, v in _LEVEL_OF_PROTO.items()}


class PolicyConfigError(ValueError):
    """The policy pack config names an unknown policy, an invalid level or a value its schema refuses."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # mandatory | advisory (remediate is reported as mandatory, as the engine does)
    urn: str  # "" for a stack-wide finding
    message: str

    def to_json(self) -> dict:
        return {"policy": self.policy, "level": self.level, "urn": self.urn, "message": self.message}


@dataclass
class PolicyReport:
    evaluated: int  # policies that ran (not disabled by the config)
    violations: list[Violation] = field(default_factory=list)

    @property
    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    @property
    def advisory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "advisory"]

    def of(self, policy: str) -> list[Violation]:
        return [v for v in self.violations if v.policy == policy]

    def to_json(self) -> dict:
        return {"evaluated": self.evaluated, "violations": [v.to_json() for v in self.violations]}


# --- configuration, reconciled the way the CLI does it -----------------------------------------------------------
def load_config(env: str) -> dict:
    path = CONFIG_DIR / f"{env}.json"
    if not path.is_file():
        available = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise PolicyConfigError(f"no policy config for environment {env!r}; available: {', '.join(available)}")
    return json.loads(path.read_text())


def _split(entry: Any, key: str) -> tuple[Optional[str], dict]:
    if isinstance(entry, str):
        level, props = entry, {}
    elif isinstance(entry, Mapping):
        props = dict(entry)
        level = props.pop("enforcementLevel", None)
    else:
        raise PolicyConfigError(f"{key}: expected an enforcement level or an object, got {entry!r}")
    if level is not None and level not in LEVELS:
        raise PolicyConfigError(f"{key}: {level!r} is not an enforcement level; allowed: {', '.join(LEVELS)}")
    return level, props


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """``override`` on top of ``base``, per policy (levels replace, properties merge)."""
    merged = copy.deepcopy(dict(base))
    for key, entry in override.items():
        level, props = _split(entry, key)
        old_level, old_props = _split(merged.get(key, {}), key)
        new: dict = {**old_props, **props}
        if level or old_level:
            new["enforcementLevel"] = level or old_level
        merged[key] = new
    return merged


def _type_ok(value: Any, expected: str) -> bool:
    return {
        "boolean": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer(),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }[expected](value)


def _validate(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    """The JSON-schema keywords the pack's config schemas use: type, items, enum, minimum, maximum."""
    problems = []
    expected = schema.get("type")
    if expected and not _type_ok(value, expected):
        return [f"{where}: expected {expected}, got {json.dumps(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {json.dumps(value)} is not one of {json.dumps(schema['enum'])}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        problems.append(f"{where}: {value} is below the minimum {schema['minimum']}")
    if "maximum" in schema and isinstance(value, (int, float)) and value > schema["maximum"]:
        problems.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if "items" in schema and isinstance(value, list):
        for i, item in enumerate(value):
            problems += _validate(item, schema["items"], f"{where}[{i}]")
    return problems


def reconcile(info: analyzer_pb2.AnalyzerInfo, config: Mapping[str, Any]) -> dict[str, tuple[str, dict]]:
    """Per policy: (enforcement level, properties) -- defaults from the policies' metadata and schemas, then
    ``all``, then each policy's entry. Stricter than the CLI: unknown policy names and unknown properties are
    errors (a typo would otherwise silently configure nothing)."""
    policies = {p.name: p for p in info.policies}
    result: dict[str, tuple[str, dict]] = {}
    for name, p in policies.items():
        schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
        defaults = {k: v["default"] for k, v in schema.items() if "default" in v}
        result[name] = (_LEVEL_OF_PROTO[p.enforcementLevel], defaults)
    problems: list[str] = []
    if "all" in config:
        level, props = _split(config["all"], "all")
        if props:
            problems.append("all: only an enforcement level may be given for all policies")
        if level:
            result = {n: (level, props_) for n, (_, props_) in result.items()}
    for key, entry in config.items():
        if key == "all":
            continue
        if key not in policies:
            problems.append(f"{key}: no such policy in pack {PACK_NAME}")
            continue
        level, props = _split(entry, key)
        old_level, old_props = result[key]
        result[key] = (level or old_level, {**old_props, **props})
    for name, p in policies.items():
        schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
        for prop, value in result[name][1].items():
            if prop not in schema:
                problems.append(f"{name}.{prop}: not a setting of this policy (settings: {', '.join(schema) or 'none'})")
            else:
                problems += _validate(value, schema[prop], f"{name}.{prop}")
    if problems:
        raise PolicyConfigError("invalid policy pack config:\n  " + "\n  ".join(problems))
    return result


# --- resources as the engine sends them ---------------------------------------------------------------------------
def _engine_value(value: Any) -> Any:
    """Plan JSON values as the engine marshals them: unknowns as the unknown sentinel."""
    if isinstance(value, dict):
        return {str(k): _engine_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_engine_value(v) for v in value]
    if value == PLAN_UNKNOWN:
        return UNKNOWN_STRING_VALUE
    return value


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    # Internal keys (__defaults, …) are not sent to analyzers (MarshalOptions.SkipInternalKeys).
    out.update({k: _engine_value(v) for k, v in props.items() if not str(k).startswith("__")})
    return out


def _options(r: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    dbr = r.get("delete_before_replace")
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(r.get("protect")),
        ignoreChanges=list(r.get("ignore_changes") or []),
        deleteBeforeReplace=bool(dbr),
        deleteBeforeReplaceDefined=bool(dbr),
        aliases=[str(a) for a in r.get("aliases") or []],
        parent=r.get("parent") or "",
    )


def _provider(r: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Optional[analyzer_pb2.AnalyzerProviderResource]:
    """The provider reference ``<provider urn>::<id>`` resolved to the provider resource, as the engine does."""
    ref = r.get("provider") or ""
    if not ref:
        return None
    urn = ref.rsplit("::", 1)[0] if ref.count("::") >= 4 else ref  # a URN has 3 "::" separators, a reference 4
    parts = urn.split("::")
    provider = by_urn.get(urn, {})
    token = provider.get("type") or (parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else "")
    return analyzer_pb2.AnalyzerProviderResource(type=token, urn=urn, name=parts[-1], properties=_struct(provider.get("inputs") or {}))


def _required(r: Mapping[str, Any]) -> None:
    missing = [k for k in ("urn", "type", "name") if not r.get(k)]
    if missing:
        raise ValueError(f"resource {r.get('urn') or r!r} lacks {', '.join(missing)}")


# --- what the engine hands analyzers: inputs after Check, outputs for stacks, unknowns at preview ---------------
# Properties the providers' Check fills with an auto-name when the program leaves them unset.
AUTONAME_PROPS = {"aws": ("name", "bucket", "namePrefix")}


def _checked_inputs(r: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict:
    """Inputs as the engine sends them to ``Analyze``: after the provider's Check, which applies auto-names
    (aws: ``name`` / ``bucket``; kubernetes: ``metadata.name``), taken from what the mocks answered."""
    inputs = copy.deepcopy(dict(r.get("inputs") or {}))
    if not outputs:
        return inputs
    package = str(r.get("type", "")).split(":", 1)[0]
    for prop in AUTONAME_PROPS.get(package, ()):
        if prop == "name" or prop == "bucket":
            if inputs.get(prop) in (None, "") and isinstance(outputs.get(prop), str):
                inputs[prop] = outputs[prop]
    if package == "kubernetes" and isinstance(inputs.get("metadata"), dict) and not inputs["metadata"].get("name"):
        name = (outputs.get("metadata") or {}).get("name") if isinstance(outputs.get("metadata"), dict) else None
        if isinstance(name, str):
            inputs["metadata"]["name"] = name
    return inputs


def _computed_strings(r: Mapping[str, Any], by_urn: Mapping, outputs: Mapping[str, Mapping]) -> dict[str, set[str]]:
    """prop -> the computed output values (ids, ARNs, generated names: outputs that are not echoed inputs) of the
    resources ``prop`` was computed from; unknown until those resources exist, i.e. at the first preview."""
    found: dict[str, set[str]] = {}
    for prop, deps in (r.get("property_dependencies") or {}).items():
        for urn in deps:
            dep = by_urn.get(urn)
            if dep is None or dep.get("custom") is False:
                continue
            echoed = dep.get("inputs") or {}
            for key, value in (outputs.get(urn) or {}).items():
                if key in echoed and echoed[key] == value:
                    continue
                for leaf in _leaves(value):
                    if isinstance(leaf, str) and len(leaf) >= 6:
                        found.setdefault(prop, set()).add(leaf)
            found.setdefault(prop, set()).add(f"{dep.get('name')}-id")  # the harness' mock ids
    return found


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _unknown_where(value: Any, computed: set[str]) -> Any:
    """``value`` with every string leaf that carries a computed value replaced by the preview's unknown."""
    if isinstance(value, dict):
        return {k: _unknown_where(v, computed) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknown_where(v, computed) for v in value]
    if isinstance(value, str) and any(c in value for c in computed):
        return PLAN_UNKNOWN
    return value


def preview_resources(resources: Sequence[Mapping[str, Any]], outputs: Mapping[str, Mapping]) -> list[dict]:
    """The resources as a first ``pulumi preview`` of a new stack hands them to analyzers: every input computed
    from another resource's id or computed output (ARN, generated name, endpoint ...) unknown."""
    by_urn = {r["urn"]: r for r in resources}
    out = []
    for r in resources:
        preview = copy.deepcopy(dict(r))
        computed = _computed_strings(r, by_urn, outputs)
        inputs = _checked_inputs(r, outputs.get(r["urn"]) or {})
        for prop, strings in computed.items():
            if prop in inputs:
                inputs[prop] = _unknown_where(inputs[prop], strings)
        preview["inputs"] = inputs
        out.append(preview)
    return out


def _analyze_request(r: Mapping[str, Any], by_urn: Mapping) -> analyzer_pb2.AnalyzeRequest:
    request = analyzer_pb2.AnalyzeRequest(type=r["type"], urn=r["urn"], name=r["name"], properties=_struct(r.get("inputs") or {}), options=_options(r))
    provider = _provider(r, by_urn)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def _stack_resource(r: Mapping[str, Any], by_urn: Mapping, outputs: Optional[Mapping[str, Any]] = None) -> analyzer_pb2.AnalyzerResource:
    resource = analyzer_pb2.AnalyzerResource(
        type=r["type"],
        urn=r["urn"],
        name=r["name"],
        # stack validation sees the resources' outputs (the engine's resource state), inputs when there are none
        properties=_struct({**(r.get("inputs") or {}), **(outputs or {})}),
        options=_options(r),
        parent=r.get("parent") or "",
        dependencies=list(r.get("dependencies") or []),
        propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v)) for k, v in (r.get("property_dependencies") or {}).items() if v},
    )
    provider = _provider(r, by_urn)
    if provider is not None:
        resource.provider.CopyFrom(provider)
    return resource


def _servicer(policies: Optional[Sequence[Any]] = None):
    # The class PolicyPack serves; constructed the way PolicyPack constructs it (pulumi-policy >= 1.19).
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    return _PolicyAnalyzerServicer(PACK_NAME, PACK_VERSION, list(all_policies() if policies is None else policies), PACK_ENFORCEMENT)


class _Shortcuts:
    """What an offline evaluation does once where the SDK's servicer does it once per policy, for one evaluation.

    1. **Each message converted once.** The SDK turns a resource's properties ``Struct`` into Python again for every
       policy that sees it (``deserialize_properties(json_format.MessageToDict(...))`` in ``Analyze``,
       ``AnalyzeStack`` and ``_get_provider_resource``). Both functions are pure and their result only feeds
       ``unknown_checking_proxy``, which copies every dict and list into fresh proxies, so each policy still gets its
       own props; the two results are remembered per message (keyed by identity, the message held so its id
       cannot be reused).

    With every policy a catalogue rule (``share``: rules read props only through ``values.plain``, a copy, and never
    write to what they are handed: policies/support/rule.py), three more:

    2. **One proxy, one options object and one provider per resource**, not one per policy and resource.
    3. **Each resource handed only to the resource policies that judge its type.** A catalogue resource policy's
       validate returns at once, reporting nothing, for a type outside its ``applies_to``; the SDK still builds every
       policy's arguments for every resource first. For one ``Analyze``, the servicer's policy list is those that
       apply to the resource's type, in pack order (every policy without an ``applies_to`` stays).
    4. **The stack built once for all stack policies** (:func:`_analyze_stack_once`): the SDK rebuilds every
       resource's PolicyResource for each of them, three quarters of an evaluation, the rules themselves a tenth.
       The stack rules then share one view of the stack too (rule.py ``shared_stacks``).

    tests/policies/test_policy_offline_convert_once.py holds the verdicts to the SDK's own path, without shortcuts."""

    POLICIES = "_PolicyAnalyzerServicer__policies"  # the list ``Analyze`` and ``AnalyzeStack`` iterate
    READERS = ("_get_resource_options", "_get_provider_resource")

    def __init__(self, json_format_module: Any, deserialize: Any, proxy: Any, servicer: Any, share: bool):
        from policies.support.rule import APPLIES_TO

        self._json_format = json_format_module
        self._deserialize = deserialize
        self._proxy = proxy
        self._servicer = servicer
        self.share = share
        self._dicts: dict[int, tuple[Any, Any]] = {}
        self._deserialized: dict[int, tuple[Any, Any]] = {}
        self._proxies: dict[int, tuple[Any, Any]] = {}
        self._policies = list(getattr(servicer, self.POLICIES))
        self._applies_to = {id(p): APPLIES_TO.get(p) for p in self._policies}
        self._by_type: dict[str, list[Any]] = {}
        self.conversions = 0  # MessageToDict calls that really converted (tests: once per distinct message)

    # 1. what the SDK module's names resolve to within the block
    def __getattr__(self, name: str) -> Any:  # the rest of json_format, unchanged
        return getattr(self._json_format, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - json_format's name
        if args or kwargs:
            return self._json_format.MessageToDict(message, *args, **kwargs)
        held = self._dicts.get(id(message))
        if held is None or held[0] is not message:
            self.conversions += 1
            held = self._dicts[id(message)] = (message, self._json_format.MessageToDict(message))
        return held[1]

    def deserialize_properties(self, props: Any, proxy_secrets: bool = False) -> Any:
        held = self._deserialized.get(id(props))
        if proxy_secrets or held is None or held[0] is not props:
            result = self._deserialize(props, proxy_secrets)
            if proxy_secrets:
                return result
            held = self._deserialized[id(props)] = (props, result)
        return held[1]

    # 2.
    def unknown_checking_proxy(self, props: Any) -> Any:
        if not self.share:
            return self._proxy(props)
        held = self._proxies.get(id(props))
        if held is None or held[0] is not props:
            held = self._proxies[id(props)] = (props, self._proxy(props))
        return held[1]

    def per_message(self, read: Any) -> Any:
        """``read(message)`` remembered per message (the servicer's ``_get_resource_options`` and
        ``_get_provider_resource``)."""
        held_by_id: dict[int, tuple[Any, Any]] = {}

        def remembered(message: Any) -> Any:
            held = held_by_id.get(id(message))
            if held is None or held[0] is not message:
                held = held_by_id[id(message)] = (message, read(message))
            return held[1]

        return remembered

    # 3.
    def for_type(self, type_token: str) -> list[Any]:
        found = self._by_type.get(type_token)
        if found is None:
            found = self._by_type[type_token] = [p for p in self._policies if (m := self._applies_to[id(p)]) is None or m(type_token)]
        return found

    def analyze(self, request: analyzer_pb2.AnalyzeRequest) -> analyzer_pb2.AnalyzeResponse:
        if not self.share:
            return self._servicer.Analyze(request, None)
        setattr(self._servicer, self.POLICIES, self.for_type(request.type))
        try:
            return self._servicer.Analyze(request, None)
        finally:
            setattr(self._servicer, self.POLICIES, self._policies)

    # 4.
    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest, built: Optional[Sequence["Unlinked"]] = None) -> analyzer_pb2.AnalyzeResponse:
        return _analyze_stack_once(self._servicer, request, built) if self.share else self._servicer.AnalyzeStack(request, None)


def _stack_resources(servicer: Any, request: analyzer_pb2.AnalyzeStackRequest) -> list[Any]:
    """The stack as the SDK's ``AnalyzeStack`` hands it to a stack policy: a PolicyResource per resource (props
    deserialised behind the unknown-checking proxy, options, provider), parents, dependencies and property
    dependencies linked to the resource objects, in request order."""
    return _linked([_policy_resource(servicer, r) for r in request.resources])


Unlinked = tuple[Any, str, list[str], dict[str, list[str]]]  # a PolicyResource, its parent, dependencies, property dependencies


def _policy_resource(servicer: Any, r: analyzer_pb2.AnalyzerResource) -> Unlinked:
    """One resource of the stack as ``AnalyzeStack`` builds it, not yet linked to the others."""
    from pulumi_policy import PolicyResource
    from pulumi_policy.policy import deserialize_properties, json_format, unknown_checking_proxy

    props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(r.properties)))
    resource = PolicyResource(r.type, props, r.urn, r.name, servicer._get_resource_options(r), servicer._get_provider_resource(r), None, [], {})
    return resource, r.parent, list(r.dependencies), {k: list(v.urns) for k, v in r.propertyDependencies.items()}


def _linked(built: Sequence[Unlinked]) -> list[Any]:
    by_urn = {resource.urn: resource for resource, *_ in built}
    for resource, parent, dependencies, property_dependencies in built:
        if parent is not None and parent in by_urn:
            resource.parent = by_urn[parent]
        resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
        for prop, urns in property_dependencies.items():
            resource.property_dependencies[prop] = [by_urn[d] for d in urns if d in by_urn]
    return [resource for resource, *_ in built]


def _analyze_stack_once(servicer: Any, request: analyzer_pb2.AnalyzeStackRequest, built: Optional[Sequence[Unlinked]] = None) -> analyzer_pb2.AnalyzeResponse:
    """The servicer's ``AnalyzeStack`` with the stack built once for all stack policies instead of once per policy.

    The SDK rebuilds every resource's PolicyResource for each stack policy: 40 policies x every resource was three
    quarters of an evaluation, the rules themselves a tenth of it. Only for catalogue rules, which read the resources
    and never write to them (policies/support/rule.py), so one stack serves them all. Everything else is the SDK's
    own: the enforcement level, the violation reporter, the policy's config, and a value unknown at preview turned into
    the advisory "can't run policy ... during preview" (tests/policies/test_policy_offline_convert_once.py holds this
    to the SDK's AnalyzeStack, verdict for verdict). ``built``: the request's resources already built
    (:func:`_policy_resource`, in request order), as an :class:`Evaluation` builds each when it is handed."""
    from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
    from pulumi_policy.policy import _NotApplicableError, isawaitable
    from pulumi_policy.proxy import UnknownValueError

    servicer._configure_runtime_settings()
    response = analyzer_pb2.AnalyzeResponse()
    stack_tags = servicer._PolicyAnalyzerServicer__stack_tags
    resources: Optional[list[Any]] = None
    for policy in getattr(servicer, _Shortcuts.POLICIES):
        level = servicer._get_enforcement_level(policy)
        if level == EnforcementLevel.DISABLED or not isinstance(policy, StackValidationPolicy):
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY  # stack policies cannot remediate, as the SDK says
        report_violation = servicer._create_report_violation(response, policy.name, policy.description, level, policy.severity)
        if resources is None:
            resources = _stack_resources(servicer, request) if built is None else _linked(built)
        try:
            result = policy.validate(StackValidationArgs(resources, servicer._get_policy_config(policy.name), stack_tags), report_violation)
            if isawaitable(result):
                import asyncio

                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(result)
                finally:
                    loop.close()
        except UnknownValueError as unknown:
            response.diagnostics.append(
                analyzer_pb2.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=PACK_NAME,
                    policyPackVersion=PACK_VERSION,
                    message=f"can't run policy '{policy.name}' from policy pack '{PACK_NAME}@v{PACK_VERSION}' during preview: {unknown.message}",
                    urn="",
                    description=policy.description,
                    enforcementLevel=servicer._map_enforcement_level(EnforcementLevel.ADVISORY),
                )
            )
        except _NotApplicableError as not_applicable:
            response.not_applicable.append(analyzer_pb2.PolicyNotApplicable(policy_name=policy.name, reason=not_applicable.reason or ""))
    return response


_SHORTCUTS_LOCK = threading.Lock()


@contextlib.contextmanager
def _offline_shortcuts(policies: Sequence[Any], servicer: Any) -> Any:
    """Within the block, the analyzer servicer takes the shortcuts of :class:`_Shortcuts` (yielded)."""
    from pulumi_policy import policy as sdk

    from policies.support.rule import CATALOGUE_POLICIES, shared_stacks

    share = all(p in CATALOGUE_POLICIES for p in policies)
    with _SHORTCUTS_LOCK, shared_stacks() if share else contextlib.nullcontext():
        saved = sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy
        shortcuts = _Shortcuts(*saved, servicer=servicer, share=share)
        sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy = shortcuts, shortcuts.deserialize_properties, shortcuts.unknown_checking_proxy
        if share:
            for name in _Shortcuts.READERS:
                setattr(servicer, name, shortcuts.per_message(getattr(servicer, name)))
        try:
            yield shortcuts
        finally:
            sdk.json_format, sdk.deserialize_properties, sdk.unknown_checking_proxy = saved
            if share:
                for name in _Shortcuts.READERS:
                    delattr(servicer, name)  # the class's own methods again


def evaluate(
    resources: Sequence[Mapping[str, Any]],
    env: str,
    config: Optional[Mapping[str, Any]] = None,
    *,
    outputs: Optional[Mapping[str, Mapping[str, Any]]] = None,
    preview: bool = False,
) -> PolicyReport:
    """Run every policy over ``resources`` with ``policies/config/<env>.json`` (plus ``config`` on top, in the
    same format) and report the violations.

    ``outputs`` ({urn: what the mocks answered}) brings the evaluation closer to the engine: resource policies
    get the inputs after the provider's Check (auto-names applied), stack policies the resources' outputs.
    ``preview`` evaluates as a first ``pulumi preview`` does: ids and computed outputs unknown (needs ``outputs``
    to tell computed values from echoed inputs), so a rule that needs one reports the SDK's advisory "can't run
    policy ... during preview" instead of passing silently."""
    for r in resources:
        _required(r)
    outputs = dict(outputs or {})
    if preview:
        resources = preview_resources(resources, outputs)
        outputs = {}
    with Evaluation(env, config) as evaluation:
        for r in resources:
            evaluation.add(r, outputs.get(r["urn"]))
        return evaluation.finish()


class Evaluation:
    """One evaluation of the pack, handed the resources one at a time as the engine hands them to ``Analyze`` (the
    resource policies judge each at once), then judged as a stack by :meth:`finish`. What :func:`evaluate` runs; a
    plan feeds one during the program instead (stacks/tools/plan/verdicts.py), so that by the time the program ends
    only the stack policies are left. The verdicts cannot depend on when resources came: each resource's own are kept
    by URN and reported, like the stack's request, in the order :meth:`finish` is given.

    A resource whose provider has not come yet is judged in :meth:`finish`, when every resource has (the engine
    resolves a provider reference against the whole plan: :func:`_provider`). Holds the servicer's shortcuts
    (:func:`_offline_shortcuts`, which patch the SDK module for the block) from construction to :meth:`finish` or
    :meth:`close`: use it in a ``with`` block, or close it."""

    def __init__(self, env: str, config: Optional[Mapping[str, Any]] = None) -> None:
        policies = all_policies()
        self._servicer = _servicer(policies)
        info = self._servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
        self._effective = reconcile(info, _merge(load_config(env), config or {}))
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, props) in self._effective.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = _PROTO_OF_LEVEL[level]
            entry.properties.update(props)
        self._servicer.Configure(request, None)
        self._by_urn: dict[str, Mapping[str, Any]] = {}
        self._outputs: dict[str, Optional[Mapping[str, Any]]] = {}
        self._stack: dict[str, analyzer_pb2.AnalyzerResource] = {}
        self._violations: dict[str, list[Violation]] = {}
        self._waiting_for_provider: list[str] = []
        self._scope = contextlib.ExitStack()
        shortcuts = self._scope.enter_context(_offline_shortcuts(policies, self._servicer))
        servicer = self._servicer
        self._analyze = shortcuts.analyze if shortcuts is not None else lambda request: servicer.Analyze(request, None)
        # With the shortcuts shared, the stack policies' PolicyResources are built as resources come (:meth:`_judge`)
        self._built: Optional[dict[str, Unlinked]] = {} if shortcuts is not None and shortcuts.share else None
        self._shortcuts = shortcuts

    def __enter__(self) -> "Evaluation":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """The SDK module as it was (the shortcuts' lock released); idempotent."""
        self._scope.close()

    def add(self, r: Mapping[str, Any], outputs: Optional[Mapping[str, Any]] = None) -> None:
        """Judge one resource (plan JSON shape) with the resource policies; ``outputs``: what the mocks answered."""
        _required(r)
        if r["urn"] in self._by_urn:
            raise ValueError(f"resource {r['urn']} was handed to the evaluation twice")
        if outputs:
            r = {**r, "inputs": _checked_inputs(r, outputs)}
        self._by_urn[r["urn"]] = r
        self._outputs[r["urn"]] = outputs
        if self._provider_known(r):
            self._judge(r["urn"])
        else:
            self._waiting_for_provider.append(r["urn"])

    def finish(self, order: Optional[Sequence[str]] = None) -> PolicyReport:
        """The stack policies over every resource handed, then the report: each resource's violations in ``order``
        (URNs: exactly those handed; by default, the order they came in), then the stack's. Closes the evaluation."""
        try:
            order = list(self._by_urn) if order is None else list(order)
            if sorted(order) != sorted(self._by_urn):
                unknown = sorted(set(order) - set(self._by_urn))
                never = sorted(set(self._by_urn) - set(order))
                raise ValueError(f"the order names resources never handed ({unknown[:3]}) or leaves out handed ones ({never[:3]})")
            for urn in self._waiting_for_provider:
                self._judge(urn)
            violations = [v for urn in order for v in self._violations[urn]]
            if self._built is not None:
                response = self._shortcuts.analyze_stack(analyzer_pb2.AnalyzeStackRequest(), [self._built[urn] for urn in order])
            else:
                stack = analyzer_pb2.AnalyzeStackRequest(resources=[self._stack[urn] for urn in order])
                response = self._servicer.AnalyzeStack(stack, None) if self._shortcuts is None else self._shortcuts.analyze_stack(stack)
            violations.extend(self._collect(response, ""))
        finally:
            self.close()
        evaluated = sum(1 for level, _ in self._effective.values() if level != "disabled")
        return PolicyReport(evaluated=evaluated, violations=violations)

    def _provider_known(self, r: Mapping[str, Any]) -> bool:
        ref = r.get("provider") or ""
        return not ref or (ref.rsplit("::", 1)[0] if ref.count("::") >= 4 else ref) in self._by_urn

    def _judge(self, urn: str) -> None:
        r = self._by_urn[urn]
        self._violations[urn] = self._collect(self._analyze(_analyze_request(r, self._by_urn)), urn)
        self._stack[urn] = _stack_resource(r, self._by_urn, self._outputs[urn])
        if self._built is not None:
            self._built[urn] = _policy_resource(self._servicer, self._stack[urn])

    @staticmethod
    def _collect(response: analyzer_pb2.AnalyzeResponse, default_urn: str) -> list[Violation]:
        found = []
        for d in response.diagnostics:
            level = _LEVEL_OF_PROTO.get(d.enforcementLevel, "advisory")
            level = "mandatory" if level == "remediate" else level
            found.append(Violation(d.policyName, level, d.urn or default_urn, d.message))
        return found
