"""The hub's own notebook configuration, executed: hub.extraConfig run as z2jh's jupyterhub_config.py runs it (exec
with `c` and `z2jh.get_config` over the release's values), so tests ask the hub's `profile_list` callable which
profiles a user gets instead of re-reading the values the way Crucible's plan does."""

from __future__ import annotations

import sys
import types


class HubConfig(dict):
    """traitlets' config object: c.Section.trait = value."""

    def __getattr__(self, name):
        return self.setdefault(name, types.SimpleNamespace())


class HTTPError(Exception):
    """tornado.web.HTTPError as the hub config raises it."""

    def __init__(self, status, message=""):
        super().__init__(status, message)
        self.status = status


def hub_config(values: dict) -> HubConfig:
    """Run hub.extraConfig over ``values`` (z2jh's get_config reads dotted keys of the values)."""

    def get_config(key, default=None):
        node = values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    z2jh = types.ModuleType("z2jh")
    z2jh.get_config = get_config  # type: ignore[attr-defined]
    tornado = types.ModuleType("tornado")
    tornado.web = types.SimpleNamespace(HTTPError=HTTPError)  # type: ignore[attr-defined]
    c = HubConfig()
    saved = {name: sys.modules.get(name) for name in ("z2jh", "tornado")}
    sys.modules.update(z2jh=z2jh, tornado=tornado)
    try:
        for source in ((values.get("hub") or {}).get("extraConfig") or {}).values():
            exec(compile(source, "hub.extraConfig", "exec"), {"c": c})
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return c


def spawner(*groups: str):
    """A KubeSpawner as the profile_list callable sees it: its user's JupyterHub groups."""
    return types.SimpleNamespace(user=types.SimpleNamespace(groups=[types.SimpleNamespace(name=g) for g in groups]))


def offered_profiles(values: dict) -> list[dict]:
    """Every profile the hub offers anyone: its static `singleuser.profileList`, or what its profile_list callable
    returns for a user in every team's notebook groups (each team's profiles, in the team's order)."""
    profile_list = getattr(hub_config(values).get("KubeSpawner"), "profile_list", None)
    if profile_list is None:
        return list((values.get("singleuser") or {}).get("profileList") or [])
    groups = [g for team in ((values.get("custom") or {}).get("crucible") or {}).get("teams") or [] for g in team.get("groups") or []]
    return profile_list(spawner(*groups))
