"""The values-consumed search (tests/test_helm_values_consumed.py) compares each render with the base document by
document, parsing only the documents whose text differs and stopping at the first difference. Its verdict is the one
of the full comparison it replaced (kept below as it was: every document parsed, every leaf flattened, two dicts
compared): the same answers for real renders of two charts -- the base rendered again, keys removed that matter and
that do not, a refused render -- and for edits of the base render that reach the comparison's corners (a document
dropped or doubled, the documents reordered, a document rewritten in other YAML to the same content, a Secret item
changed). Each case's verdict is asserted too, so the cases cannot all agree by being trivial."""

from __future__ import annotations

import base64
import functools
import re
from typing import Any

import pytest
import yaml

from rendered import release_of, require_helm
from stacks.tools.plan import helm
from test_helm_values_consumed import Release, Render, without


# -- the full comparison, as it was ---------------------------------------------------------------------------
def _flatten(value: Any, path: tuple, out: dict) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, path + (k,), out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flatten(v, path + (i,), out)
    else:
        out[path] = value


def _opened(doc: dict) -> dict:
    if doc.get("kind") != "Secret" or not isinstance(doc.get("data"), dict):
        return doc
    data = {}
    for key, encoded in doc["data"].items():
        try:
            text = base64.b64decode(encoded).decode()
            parsed = yaml.safe_load(text)
            data[key] = parsed if isinstance(parsed, (dict, list)) else text
        except (ValueError, UnicodeDecodeError, yaml.YAMLError):
            data[key] = encoded
    return {**doc, "data": data}


def flat_render(text: str) -> dict:
    out: dict = {}
    seen: dict = {}
    for source, doc in helm.split_manifests(text):
        ident = (source, doc.get("kind"), (doc.get("metadata") or {}).get("name"))
        seen[ident] = seen.get(ident, -1) + 1
        _flatten(_opened(doc), (*ident, seen[ident]), out)
    return out


def full_comparison(first: str, second: str):
    base, again = flat_render(first), flat_render(second)
    unstable = {k for k in base.keys() | again.keys() if base.get(k) != again.get(k)}

    def same(text: str) -> bool:
        if text == "refused":
            return False
        other = flat_render(text)
        return {k: v for k, v in other.items() if k not in unstable} == {k: v for k, v in base.items() if k not in unstable}

    return same


# -- edits of a render ----------------------------------------------------------------------------------------
_SEPARATOR = re.compile(r"^---[ \t]*\n", re.MULTILINE)


def _documents(text: str) -> list[str]:
    return [d for d in _SEPARATOR.split(text) if d.strip()]


def _joined(documents: list[str]) -> str:
    return "".join(f"---\n{d}" for d in documents)


def _secret_with_data(documents: list[str]) -> int:
    return next(i for i, d in enumerate(documents) if re.search(r"^kind: Secret$", d, re.MULTILINE) and (yaml.safe_load(d) or {}).get("data"))


def _rewritten(document: str, change=None) -> str:
    """The document in other YAML (flow style, another key order): other text, the same content unless ``change``."""
    source = document.splitlines()[0]
    doc = yaml.safe_load(document)
    if change:
        change(doc)
    return f"{source}\n{yaml.safe_dump(doc, default_flow_style=True, sort_keys=True)}"


def _edit_item(doc: dict) -> None:
    """One leaf changed inside the Secret's largest item (the configuration z2jh passes as YAML)."""
    key = max(doc["data"], key=lambda k: len(doc["data"][k]))
    item = yaml.safe_load(base64.b64decode(doc["data"][key]).decode())
    item["crucible-test"] = "added"
    doc["data"][key] = base64.b64encode(yaml.safe_dump(item).encode()).decode()


def _edits(text: str) -> dict[str, str]:
    documents = _documents(text)
    secret = _secret_with_data(documents)
    return {
        "the last document dropped": _joined(documents[:-1]),
        "a document doubled": _joined(documents + documents[-1:]),
        "the documents reversed": _joined(documents[::-1]),
        "a Secret in other YAML": _joined(documents[:secret] + [_rewritten(documents[secret])] + documents[secret + 1 :]),
        "a Secret item changed": _joined(documents[:secret] + [_rewritten(documents[secret], _edit_item)] + documents[secret + 1 :]),
    }


# chart, removals: (values path, whether the render stays the same), the verdicts the shipped values give today
CASES = {
    "jupyterhub": [(("cull", "every"), True), (("cull",), False), (("custom",), False), (("singleuser",), False)],
    "karpenter": [(("replicas",), True), (("settings",), False)],
}
EDITS = {
    "the last document dropped": False,
    "a document doubled": False,
    "the documents reversed": True,
    "a Secret in other YAML": True,
    "a Secret item changed": False,
}


@functools.lru_cache(maxsize=None)
def _renders(chart: str) -> tuple[str, str, dict[str, tuple[str, bool]]]:
    """The base rendered twice, and the renders to judge with the verdict each should get."""
    release = Release(release_of("dev", chart))
    values = release.r.release.values
    first, second = release.render(values), release.render(values, again=True)
    cases = {"the base rendered again": (release.render(values, again=True), True), "refused": ("refused", False)}
    cases |= {f"without {'.'.join(path)}": (release.render(without(values, path)), expected) for path, expected in CASES[chart]}
    if chart == "jupyterhub":  # the chart with a Secret with data
        cases |= {name: (edited, EDITS[name]) for name, edited in _edits(first).items()}
    return first, second, cases


@pytest.mark.parametrize("chart", sorted(CASES))
def test_the_document_by_document_comparison_gives_the_full_comparisons_verdict(chart):
    require_helm()
    first, second, cases = _renders(chart)
    full = full_comparison(first, second)
    render = Render(first)
    render.learn_unstable(second)
    verdicts = {name: (full(text), render.same(text)) for name, (text, _) in cases.items()}
    assert {name: (old, new) for name, (old, new) in verdicts.items() if old != new} == {}, "(full, by document) verdicts that differ"
    assert {name: old for name, (old, _) in verdicts.items()} == {name: expected for name, (_, expected) in cases.items()}
