"""How a catalogue rule becomes a CrossGuard policy.

Rules are written against three small objects:

- ``Res``: one resource (type, name, URN, options, parent, dependencies, property dependencies) with its
  properties as plain values (``values.plain``: unknowns kept as ``Unknown`` markers).
- ``Stack``: every resource of the stack, indexed by URN and type, with joins that follow property
  dependencies (URNs, always known at preview) -- never ids or ARNs, which are not.
- ``Ctx``: the rule's settings (policy config with the schema defaults applied here, because the SDK does not
  apply them), the violation reporter and unknown isolation.

Unknown isolation: each check (and each resource a stack rule visits inside ``with ctx.each():``) runs on its
own; when one needs a value that is unknown at preview, the others still report, and the first unknown is
re-raised at the end so the SDK still says "can't run policy ... during preview" (advisory) for the part it
could not judge.
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from functools import cached_property
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies.support.config_keys import with_key
from policies.support.tokens import TypeMatcher, short
from policies.support.values import dig, plain

CATALOGUE = "crucible-policy-catalogue"
# Every policy resource_policy / stack_policy built. Their validate functions read a resource's props only through
# ``values.plain`` (a copy), never writing to the SDK's proxies: the offline evaluation may hand them one proxy per
# resource instead of one per policy and resource (policies/offline.py).
CATALOGUE_POLICIES: "weakref.WeakSet[Any]" = weakref.WeakSet()
# Each catalogue resource policy's ``applies_to``: its validate returns at once, reporting nothing, for any other
# type, so an offline evaluation need not hand it those resources at all (policies/offline.py).
APPLIES_TO: "weakref.WeakKeyDictionary[Any, TypeMatcher]" = weakref.WeakKeyDictionary()
_ID = re.compile(r"^(SEC|REL|AI|DATA)-[A-Z0-9]+-\d{3}$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Res:
    """One resource as a rule sees it."""

    def __init__(
        self,
        type: str,
        name: str,
        urn: str,
        raw_props: Any,
        *,
        protect: bool = False,
        delete_before_replace: Optional[bool] = None,
        parent: Optional[str] = None,
        dependencies: Sequence[str] = (),
        property_dependencies: Optional[Mapping[str, Sequence[str]]] = None,
    ):
        self.type = type
        self.name = name
        self.urn = urn
        self._raw_props = raw_props
        self.protect = bool(protect)
        self.delete_before_replace = delete_before_replace
        self.parent = parent or None
        self.dependencies = tuple(dependencies)
        self.property_dependencies = {k: tuple(v) for k, v in (property_dependencies or {}).items()}

    @classmethod
    def from_args(cls, args: ResourceValidationArgs) -> "Res":
        return cls(
            args.resource_type,
            args.name,
            args.urn,
            args.props,
            protect=args.opts.protect,
            delete_before_replace=args.opts.delete_before_replace,
            parent=args.opts.parent,
        )

    @classmethod
    def from_policy_resource(cls, r: PolicyResource) -> "Res":
        return cls(
            r.resource_type,
            r.name,
            r.urn,
            r.props,
            protect=r.opts.protect,
            delete_before_replace=r.opts.delete_before_replace,
            parent=r.parent.urn if r.parent is not None else r.opts.parent,
            dependencies=[d.urn for d in r.dependencies],
            property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
        )

    @cached_property
    def props(self) -> dict:
        value = plain(self._raw_props)
        return value if isinstance(value, dict) else {}

    def get(self, *path: Any, default: Any = None) -> Any:
        return dig(self.props, *path, default=default)

    @property
    def label(self) -> str:
        return f"{short(self.type)} '{self.name}'"

    # Kubernetes objects
    @property
    def k8s_name(self) -> Optional[str]:
        value = self.get("metadata", "name")
        return value if isinstance(value, str) else None

    @property
    def k8s_namespace(self) -> Optional[str]:
        value = self.get("metadata", "namespace")
        return value if isinstance(value, str) else None

    @property
    def labels(self) -> dict:
        value = self.get("metadata", "labels", default={})
        return value if isinstance(value, dict) else {}

    @property
    def tags(self) -> dict:
        value = self.get("tags", default={})
        return value if isinstance(value, dict) else {}

    def __repr__(self) -> str:
        return f"Res({self.urn})"


class Stack:
    """Every resource of the stack, with URN-based joins."""

    def __init__(self, resources: Sequence[Res]):
        self.resources = list(resources)
        self._by_urn = {r.urn: r for r in self.resources}
        self._types = sorted({r.type for r in self.resources})
        self._matched: dict[int, tuple[TypeMatcher, frozenset[str]]] = {}

    def _matching(self, matcher: TypeMatcher) -> frozenset[str]:
        """The stack's types ``matcher`` accepts: asked once per type, not once per resource (held with the matcher,
        so its id is not reused while the answer is kept)."""
        held = self._matched.get(id(matcher))
        if held is None or held[0] is not matcher:
            held = self._matched[id(matcher)] = (matcher, frozenset(t for t in self._types if matcher(t)))
        return held[1]

    def of(self, matcher: TypeMatcher) -> list[Res]:
        types = self._matching(matcher)
        return [r for r in self.resources if r.type in types] if types else []

    def has(self, matcher: TypeMatcher) -> bool:
        return bool(self._matching(matcher))

    def get(self, urn: Optional[str]) -> Optional[Res]:
        return self._by_urn.get(urn) if urn else None

    def linked(self, res: Res, prop: str, matcher: Optional[TypeMatcher] = None) -> list[Res]:
        """Resources ``res`` reads through property ``prop`` (its property dependencies)."""
        # sorted: the engine's (and the SDK's) dependency order varies between runs; messages listing these must not
        found = [self._by_urn[u] for u in sorted(set(res.property_dependencies.get(prop, ()))) if u in self._by_urn]
        return [r for r in found if matcher is None or matcher(r.type)]

    def referrers(self, target: Res, matcher: TypeMatcher, prop: str) -> list[Res]:
        """Resources of ``matcher`` whose property ``prop`` was computed from ``target`` (e.g. the
        versioning of a bucket: ``bucket=b.id`` makes the bucket's URN a property dependency of ``bucket``)."""
        return [r for r in self.of(matcher) if target.urn in r.property_dependencies.get(prop, ())]


_SHARING = threading.local()


@contextlib.contextmanager
def shared_stacks() -> Iterator[None]:
    """Within the block, stack rules that are handed the same resources (the same props objects: an offline
    evaluation hands every policy one proxy per resource, policies/offline.py) share one :class:`Stack`: the
    SDK builds a list of PolicyResources per stack policy, and turning each into a :class:`Res` with plain props
    again was most of an evaluation's time. Rules only read a Res and its props (a test holds them to that).
    Outside the block (the engine over gRPC: fresh proxies per policy), every rule builds its own."""
    _SHARING.stacks = {}
    try:
        yield
    finally:
        _SHARING.stacks = None


def _stack_of(resources: Sequence[PolicyResource]) -> Stack:
    stacks = getattr(_SHARING, "stacks", None)
    if stacks is None:
        return Stack([Res.from_policy_resource(r) for r in resources])
    key = tuple((r.urn, id(r.props)) for r in resources)
    held = stacks.get(key)
    if held is None:
        # the props objects are kept with the stack, so no id in the key is reused while it is held
        held = stacks[key] = (tuple(r.props for r in resources), Stack([Res.from_policy_resource(r) for r in resources]))
    return held[1]


Check = Callable[[Res, "Ctx"], None]
StackCheck = Callable[[Stack, "Ctx"], None]


class Ctx:
    """Settings, reporting and unknown isolation for one run of one policy."""

    def __init__(self, report_violation: ReportViolation, config: Optional[Mapping[str, Any]], schema: Mapping[str, dict], rule_id: str = ""):
        self._report = report_violation
        self._rule_id = rule_id
        self._config = dict(config or {})
        self._schema = schema
        self._first_unknown: Optional[UnknownValueError] = None

    def setting(self, key: str) -> Any:
        """The configured value, else the schema default (the SDK does not apply schema defaults)."""
        if key not in self._schema:
            raise KeyError(f"setting {key!r} is not declared in the policy's config schema")
        if key in self._config:
            return self._config[key]
        return self._schema[key].get("default")

    def violation(self, res: Res, message: str) -> None:
        self._report(f"{res.label}: {with_key(self._rule_id, message)}", res.urn)

    def stack_violation(self, message: str) -> None:
        self._report(with_key(self._rule_id, message), None)

    @contextlib.contextmanager
    def each(self) -> Iterator[None]:
        """Run a block on its own: an unknown value stops this block only; it is re-raised by ``settle``."""
        try:
            yield
        except UnknownValueError as unknown:
            if self._first_unknown is None:
                self._first_unknown = unknown

    def settle(self) -> None:
        if self._first_unknown is not None:
            raise self._first_unknown


def policy_name(rule_id: str, slug: str) -> str:
    if not _ID.match(rule_id):
        raise ValueError(f"catalogue id {rule_id!r} does not look like SEC-EKS-001")
    if not _SLUG.match(slug):
        raise ValueError(f"slug {slug!r} is not kebab-case")
    return f"{rule_id.lower()}-{slug}"


def _schema(settings: Optional[Mapping[str, dict]]) -> Optional[PolicyConfigSchema]:
    if not settings:
        return None
    for key, prop in settings.items():
        if "default" not in prop or "description" not in prop:
            raise ValueError(f"setting {key!r} needs a description and a default")
    return PolicyConfigSchema(properties={k: dict(v) for k, v in settings.items()})


def _metadata(rule_id: str, level: EnforcementLevel, anchor: str) -> dict:
    return {
        "severity": Severity.HIGH if level == EnforcementLevel.MANDATORY else Severity.LOW,
        "framework": PolicyComplianceFramework(name=CATALOGUE, reference=rule_id, specification=anchor or None),
        "tags": [rule_id.split("-")[1].lower()],
    }


def resource_policy(
    *,
    rule_id: str,
    slug: str,
    description: str,
    applies_to: TypeMatcher,
    checks: Sequence[Check],
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    settings: Optional[Mapping[str, dict]] = None,
    anchor: str = "",
) -> ResourceValidationPolicy:
    """A policy that judges one resource at a time (``applies_to`` picks the types); each check runs isolated."""
    schema = dict(settings or {})

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not applies_to(args.resource_type):
            return
        res = Res.from_args(args)
        ctx = Ctx(report_violation, args.get_config(), schema, rule_id)
        for check in checks:
            with ctx.each():
                check(res, ctx)
        ctx.settle()

    policy = ResourceValidationPolicy(
        name=policy_name(rule_id, slug),
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=_schema(settings),
        **_metadata(rule_id, level, anchor),
    )
    CATALOGUE_POLICIES.add(policy)
    APPLIES_TO[policy] = applies_to
    return policy


def stack_policy(
    *,
    rule_id: str,
    slug: str,
    description: str,
    check: StackCheck,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    settings: Optional[Mapping[str, dict]] = None,
    anchor: str = "",
) -> StackValidationPolicy:
    """A policy that joins resources of the whole stack; wrap per-resource work in ``with ctx.each():``."""
    schema = dict(settings or {})

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = _stack_of(args.resources)
        ctx = Ctx(report_violation, args.get_config(), schema, rule_id)
        with ctx.each():
            check(stack, ctx)
        ctx.settle()

    policy = StackValidationPolicy(
        name=policy_name(rule_id, slug),
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=_schema(settings),
        **_metadata(rule_id, level, anchor),
    )
    CATALOGUE_POLICIES.add(policy)
    return policy
