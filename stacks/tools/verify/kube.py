"""A small JSON-over-HTTPS Kubernetes API client (urllib, no extra dependency) and kubeconfig loading.

Supports what an EKS kubeconfig (and a test stub) uses: a server URL, the cluster CA (`certificate-authority-data`
or a file) or `insecure-skip-tls-verify`, and a bearer token, client certificates or an `exec` credential plugin
(`aws eks get-token`, client.authentication.k8s.io ExecCredential). Every request has a timeout.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml


class KubeConfigError(ValueError):
    """The kubeconfig cannot be used (exit 2)."""


class Unreachable(ConnectionError):
    """The API server did not answer (connection refused, DNS, TLS, timeout)."""


class KubeError(RuntimeError):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str, path: str = ""):
        super().__init__(f"HTTP {status} {path}: {message}")
        self.status = status
        self.message = message
        self.path = path


@dataclass
class KubeConfig:
    server: str
    ca_data: Optional[str] = None  # PEM text
    insecure: bool = False
    token: Optional[str] = None
    client_cert: Optional[str] = None  # PEM text
    client_key: Optional[str] = None
    exec_spec: Optional[dict] = None
    context: str = ""
    base_dir: str = "."


def _pem(entry: dict, key: str, base_dir: str) -> Optional[str]:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"]).decode()
    if entry.get(key):
        path = os.path.join(base_dir, os.path.expanduser(entry[key]))
        try:
            with open(path) as handle:
                return handle.read()
        except OSError as exc:
            raise KubeConfigError(f"kubeconfig {key}: cannot read {path}: {exc}") from None
    return None


def parse_kubeconfig(text: str, context: Optional[str] = None, base_dir: str = ".") -> KubeConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise KubeConfigError("kubeconfig is not a mapping")

    def named(section: str, name: str) -> dict:
        for item in doc.get(section) or []:
            if item.get("name") == name:
                return item.get(section[:-1]) or {}
        known = ", ".join(str(i.get("name")) for i in doc.get(section) or []) or "none"
        raise KubeConfigError(f"kubeconfig has no {section[:-1]} {name!r} (has: {known})")

    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        contexts = doc.get("contexts") or []
        if len(contexts) != 1:
            raise KubeConfigError("kubeconfig has no current-context; pass --context")
        ctx_name = contexts[0].get("name")
    ctx = named("contexts", ctx_name)
    cluster = named("clusters", ctx.get("cluster"))
    user = named("users", ctx.get("user")) if ctx.get("user") else {}
    if not cluster.get("server"):
        raise KubeConfigError(f"kubeconfig cluster {ctx.get('cluster')!r} has no server")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = open(os.path.join(base_dir, user["tokenFile"])).read().strip()
    return KubeConfig(
        server=cluster["server"].rstrip("/"),
        ca_data=_pem(cluster, "certificate-authority", base_dir),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        token=token,
        client_cert=_pem(user, "client-certificate", base_dir),
        client_key=_pem(user, "client-key", base_dir),
        exec_spec=user.get("exec"),
        context=ctx_name,
        base_dir=base_dir,
    )


def load_kubeconfig(path: str, context: Optional[str] = None) -> KubeConfig:
    try:
        with open(os.path.expanduser(path)) as handle:
            text = handle.read()
    except OSError as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc}") from None
    return parse_kubeconfig(text, context, os.path.dirname(os.path.abspath(path)))


def api_path(api_version: str, plural: str, namespace: Optional[str] = None, name: Optional[str] = None, sub: Optional[str] = None) -> str:
    """/api/v1/namespaces/ns/pods/name or /apis/group/version/…"""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [root]
    if namespace:
        parts.append(f"namespaces/{urllib.parse.quote(namespace)}")
    parts.append(plural)
    if name:
        parts.append(urllib.parse.quote(name))
    if sub:
        parts.append(sub)
    return "/".join(parts)


@dataclass
class KubeClient:
    config: KubeConfig
    timeout: float = 10.0  # seconds per request
    _ssl: Optional[ssl.SSLContext] = field(default=None, init=False, repr=False)
    _tmp: Optional[str] = field(default=None, init=False, repr=False)
    _exec_token: Optional[tuple[str, float]] = field(default=None, init=False, repr=False)

    # --- plumbing -----------------------------------------------------------------------------------------
    def _context(self) -> Optional[ssl.SSLContext]:
        if not self.config.server.startswith("https"):
            return None
        if self._ssl is None:
            ctx = ssl.create_default_context(cadata=self.config.ca_data) if self.config.ca_data else ssl.create_default_context()
            if self.config.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if self.config.client_cert and self.config.client_key:
                self._tmp = tempfile.mkdtemp(prefix="crucible-verify-")
                cert, key = os.path.join(self._tmp, "cert.pem"), os.path.join(self._tmp, "key.pem")
                for path, text in ((cert, self.config.client_cert), (key, self.config.client_key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                    with os.fdopen(fd, "w") as handle:
                        handle.write(text)
                ctx.load_cert_chain(cert, key)
            self._ssl = ctx
        return self._ssl

    def _bearer(self) -> Optional[str]:
        if self.config.token:
            return self.config.token
        spec = self.config.exec_spec
        if not spec:
            return None
        if self._exec_token and self._exec_token[1] > time.time() + 30:
            return self._exec_token[0]
        env = dict(os.environ)
        env.update({e["name"]: e["value"] for e in spec.get("env") or []})
        try:
            result = subprocess.run([spec["command"], *(spec.get("args") or [])], capture_output=True, text=True, timeout=60, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unreachable(f"credential plugin {spec.get('command')!r} failed: {exc}") from None
        if result.returncode != 0:
            raise Unreachable(f"credential plugin {spec.get('command')!r} exited {result.returncode}: {result.stderr.strip()[:300]}")
        status = json.loads(result.stdout).get("status") or {}
        # Tokens of `aws eks get-token` last 15 minutes; refresh well before.
        self._exec_token = (status.get("token"), time.time() + 600)
        return status.get("token")

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def request(self, method: str, path: str, body: Any = None, query: Optional[dict] = None, timeout: Optional[float] = None, raw: bool = False) -> Any:
        url = self.config.server + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "*/*" if raw else "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        token = self._bearer()
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self._context()) as response:
                payload = response.read()
                return payload.decode(errors="replace") if raw else (json.loads(payload) if payload else {})
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            raise KubeError(exc.code, message[:500], path) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"{method} {self.config.server}{path}: {reason}") from None

    # --- verbs ------------------------------------------------------------------------------------------
    def version(self, timeout: Optional[float] = None) -> dict:
        return self.request("GET", "/version", timeout=timeout)

    def get(self, path: str, **kw) -> dict:
        return self.request("GET", path, **kw)

    def get_or_none(self, path: str, **kw) -> Optional[dict]:
        try:
            return self.get(path, **kw)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, path: str, label_selector: Optional[str] = None, **kw) -> list[dict]:
        return self.request("GET", path, query={"labelSelector": label_selector} if label_selector else None, **kw).get("items", [])

    def create(self, path: str, body: dict, **kw) -> dict:
        return self.request("POST", path, body=body, **kw)

    def delete(self, path: str, **kw) -> None:
        """Delete (background propagation: a Job takes its pods with it); a missing object is fine."""
        try:
            self.request("DELETE", path, body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}, **kw)
        except KubeError as exc:
            if exc.status != 404:
                raise

    def text(self, path: str, query: Optional[dict] = None, **kw) -> str:
        return self.request("GET", path, query=query, raw=True, **kw)
