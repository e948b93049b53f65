"""A small JSON-over-HTTPS Kubernetes API client (urllib, no extra dependency) and kubeconfig loading.

Supports what an EKS kubeconfig (and a test stub) uses: a server URL, the cluster CA (`certificate-authority-data`
or a file) or `insecure-skip-tls-verify`, and a bearer token, client certificates or an `exec` credential plugin
(`aws eks get-token`, client.authentication.k8s.io ExecCredential). Every request has a timeout.

Production semantics it handles: 429 (API Priority and Fairness) and 500/502/503/504 are retried with exponential
backoff, honouring `Retry-After` (seconds), never past the caller's deadline; a 401 refreshes an exec credential once;
an exec token is reused until 60 s before the credential's `status.expirationTimestamp` (no timestamp: until a 401);
lists are read in pages (`limit`/`continue`), and a 410 Gone (the continue token expired) restarts the list; a list
of many pages stays within the caller's deadline, and a server repeating a continue token ends it with an error.
verify polls (GET or a paginated list every `--poll-interval` seconds, within each check's budget) and never
watches: a watch would need its own reconnect, bookmark and resourceVersion-expiry (410) handling for no gain at the
few objects a check follows.
"""

from __future__ import annotations

import base64
import datetime
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

    def __init__(self, status: int, message: str, path: str = "", retry_after: Optional[float] = None):
        super().__init__(f"HTTP {status} {path}: {message}")
        self.status = status
        self.message = message
        self.path = path
        self.retry_after = retry_after


RETRIED = (429, 500, 502, 503, 504)  # throttled (APF) or the API server/etcd momentarily failing
PAGE = 500  # items per list page


def _retry_after(value: Optional[str]) -> Optional[float]:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _expiry(stamp: Optional[str]) -> Optional[float]:
    """An ExecCredential's status.expirationTimestamp (RFC 3339) as epoch seconds."""
    if not stamp:
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
    retries: int = 5  # on 429/5xx
    backoff: float = 0.5  # first retry delay (s), doubled each time
    max_backoff: float = 10.0
    _exec_token: Optional[tuple[str, Optional[float]]] = field(default=None, init=False, repr=False)

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
        if self._exec_token and (self._exec_token[1] is None or self._exec_token[1] > time.time() + 60):
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
        # The credential says how long it lasts (`aws eks get-token`: 15 minutes, less when the AWS session ends sooner).
        self._exec_token = (status.get("token"), _expiry(status.get("expirationTimestamp")))
        return status.get("token")

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Optional[dict] = None,
        timeout: Optional[float] = None,
        raw: bool = False,
        deadline: Optional[float] = None,
    ) -> Any:
        """One API call; 429/5xx retried with backoff (Retry-After honoured) while `deadline` (time.monotonic()) allows."""
        attempt, refreshed = 0, False
        while True:
            try:
                return self._once(method, path, body, query, timeout, raw)
            except KubeError as exc:
                if exc.status == 401 and self.config.exec_spec and not self.config.token and not refreshed:
                    self._exec_token, refreshed = None, True  # expired early (revoked session): one fresh credential
                    continue
                if exc.status not in RETRIED or attempt >= self.retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self.backoff * 2**attempt
                delay = min(delay, self.max_backoff)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise
                attempt += 1
                time.sleep(delay)

    def _once(self, method: str, path: str, body: Any, query: Optional[dict], timeout: Optional[float], raw: bool) -> Any:
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
            raise KubeError(exc.code, message[:500], path, _retry_after(exc.headers.get("Retry-After") if exc.headers else None)) from None
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
        """Every item, read in pages of PAGE; a 410 (continue token expired between pages) restarts the list once.

        Bounded: the caller's ``deadline`` is checked before every page (each request is bounded on its own, a list
        of many pages is bounded as a whole), and a continue token the server hands back twice ends the list with an
        error instead of reading the same page forever."""
        deadline = kw.get("deadline")
        for restart in (False, True):
            items: list[dict] = []
            token: Optional[str] = None
            seen: set[str] = set()
            try:
                while True:
                    if token is not None and deadline is not None and time.monotonic() >= deadline:
                        raise Unreachable(f"GET {path}: the deadline passed after {len(items)} items, before the list's last page")
                    page = self.request("GET", path, query={"labelSelector": label_selector, "limit": PAGE, "continue": token}, **kw)
                    items.extend(page.get("items") or [])
                    token = (page.get("metadata") or {}).get("continue")
                    if not token:
                        return items
                    if token in seen:
                        raise KubeError(500, f"the server returned the continue token {token!r} twice: the list would never end", path)
                    seen.add(token)
            except KubeError as exc:
                if exc.status != 410 or restart:
                    raise
        return []

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
