"""A real registry for tests: Debian's ``docker-registry`` (distribution 2.8) with htpasswd.

It listens on a free loopback port, keeps its storage and access log under ``tmp_path``,
and can be stopped mid-test (a dead registry) and started again on the same port and
storage. The readers (``tags``, ``digest``, ``requests``) use raw urllib, independent of
the client under test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.support.ports import free_port

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)
_ACCESS_LOG_RE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')
# Loopback only: a proxy from the environment must never see test traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def tools_missing() -> list[str]:
    """The binaries a ``RegistryServer`` needs that are not on PATH."""
    return [tool for tool in ("docker-registry", "htpasswd") if shutil.which(tool) is None]


class RegistryServer:
    """``docker-registry serve`` with basic auth, as a context manager."""

    def __init__(self, tmp_path: Path, username: str, password: str) -> None:
        self.root = Path(tmp_path) / f"registry-{secrets.token_hex(4)}"
        self.root.mkdir(parents=True)
        self.username = username
        self._password = password
        self.port = free_port()
        self.log_path = self.root / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._write_htpasswd()
        self._write_config()

    def __repr__(self) -> str:
        return f"RegistryServer({self.host!r}, running={self.running})"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> RegistryServer:
        """Start (or restart) on the same port and storage; return once ``/v2/`` answers 401."""
        if self.running:
            return self
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            ["docker-registry", "serve", str(self.root / "config.yml")],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"docker-registry exited at start: {self.log_tail()}")
            if self._answers_401():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer within {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """Kill the registry and wait for it (storage stays, for ``start()``)."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- readers for assertions ------------------------------------------------------------

    def tags(self, repo: str) -> list[str]:
        """The tags of ``repo`` (empty if it does not exist)."""
        status, _, body = self._get(f"/v2/{repo}/tags/list")
        if status == 404:
            return []
        assert status == 200, f"tags/list of {repo}: HTTP {status}"
        return json.loads(body).get("tags") or []

    def digest(self, repo: str, tag: str) -> str | None:
        """The ``Docker-Content-Digest`` of ``repo:tag`` (None if there is no such tag)."""
        status, headers, _ = self._get(f"/v2/{repo}/manifests/{tag}", accept=ACCEPT_MANIFESTS)
        if status == 404:
            return None
        assert status == 200, f"manifest {repo}:{tag}: HTTP {status}"
        return headers["Docker-Content-Digest"]

    def labels(self, repo: str, reference: str) -> dict[str, str]:
        """The labels of the image at ``repo:reference`` (a tag or a digest; one platform)."""
        status, _, body = self._get(f"/v2/{repo}/manifests/{reference}", accept=ACCEPT_MANIFESTS)
        assert status == 200, f"manifest {repo}@{reference}: HTTP {status}"
        manifest = json.loads(body)
        if "manifests" in manifest:  # an index: its one image
            images = [
                m
                for m in manifest["manifests"]
                if (m.get("annotations") or {}).get("vnd.docker.reference.type")
                != "attestation-manifest"
            ]
            return self.labels(repo, images[0]["digest"])
        status, _, blob = self._get(f"/v2/{repo}/blobs/{manifest['config']['digest']}")
        assert status == 200, f"config of {repo}@{reference}: HTTP {status}"
        return (json.loads(blob).get("config") or {}).get("Labels") or {}

    def requests(self) -> list[tuple[str, str, int]]:
        """Every request in the access log so far, as (method, path, status)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [(m, p, int(s)) for m, p, s in _ACCESS_LOG_RE.findall(text)]

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    # -- internals -------------------------------------------------------------------------

    def _get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        pair = f"{self.username}:{self._password}".encode()
        request = urllib.request.Request(self.url + path)
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
        if accept:
            request.add_header("Accept", accept)
        try:
            with _OPENER.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers), exc.read()

    def _answers_401(self) -> bool:
        try:
            with _OPENER.open(self.url + "/v2/", timeout=2):
                return False
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code == 401
        except OSError:
            return False

    def _write_htpasswd(self) -> None:
        # -i reads the password from stdin, keeping it off the process list.
        result = subprocess.run(
            ["htpasswd", "-niB", self.username],
            input=self._password,
            capture_output=True,
            text=True,
            check=True,
        )
        (self.root / "htpasswd").write_text(result.stdout.strip() + "\n")

    def _write_config(self) -> None:
        # JSON is YAML, and it quotes every path safely.
        config = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
            "auth": {"htpasswd": {"realm": "basic-realm", "path": str(self.root / "htpasswd")}},
        }
        (self.root / "config.yml").write_text(json.dumps(config, indent=2) + "\n")


def docker_login_config(
    tmp_path: Path, host: str, user: str, pw: str, docker_bin: str = "docker"
) -> Path:
    """A fresh DOCKER_CONFIG directory holding a ``docker login`` to ``host``."""
    config_dir = Path(tmp_path) / f"docker-config-{secrets.token_hex(4)}"
    config_dir.mkdir(mode=0o700, parents=True)
    result = subprocess.run(
        [docker_bin, "login", host, "--username", user, "--password-stdin"],
        input=pw,
        check=False,
        env={**os.environ, "DOCKER_CONFIG": str(config_dir)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).replace(pw, "******")
        raise AssertionError(f"docker login {host} failed: {output.strip()}")
    return config_dir
