"""Helpers shared by integration and e2e tests: realistic decisions, and running the real
`hub` CLI in a subprocess with a test's settings."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.config import Settings
from hub.generate import generate
from tests.conftest import hub_env


def make_decisions(n_listings: int, seed: int = 0, **kw: Any) -> list[dict[str, Any]]:
    return generate(n_listings, seed=seed, **kw)


def write_jsonl(path: Path, decisions: Iterable[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for d in decisions:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    return path


def run_hub(s: Settings, *args: str, check: bool = True, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env or hub_env(s), capture_output=True,
        text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def submit(s: Settings, decisions: Iterable[dict[str, Any]], *extra: str,
           check: bool = True) -> dict[str, Any]:
    """`hub court submit FILE --format json` on these decisions; returns its summary."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, dir=s.state_dir.parent) as fh:
        path = Path(fh.name)
    write_jsonl(path, decisions)
    proc = run_hub(s, "court", "submit", str(path), "--format", "json", *extra, check=check)
    if proc.returncode != 0:
        return {"returncode": proc.returncode, "stderr": proc.stderr}
    return dict(json.loads(proc.stdout))


def api_key(s: Settings, unit: str, name: str, scope: str = "check") -> str:
    """A new API key of the unit's screening service, made by the real CLI."""
    out = run_hub(s, "agency", "api-keys", "create", "--unit", unit, "--name", name,
                  "--scope", scope, "--format", "json")
    return str(json.loads(out.stdout)["key"])


@contextmanager
def serving(s: Settings, unit: str, log: Path | None = None, env: dict[str, str] | None = None,
            args: tuple[str, ...] = (), tls: dict[str, Any] | None = None,
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`hub agency serve` of `unit` as a real process, once /healthz answers; stopped with
    SIGTERM (a clean stop) at the end. Its stderr goes to `log` when given; `args` are more
    `serve` options, `tls` the httpx options (verify, cert) of an HTTPS service."""
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    err = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "hub", "agency", "serve", "--unit", unit, "--port", str(port), *args],
        env=hub_env(s) | (env or {}), stdout=subprocess.DEVNULL, stderr=err)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1, **(tls or {})).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
            if proc.poll() is not None:
                raise AssertionError(f"hub agency serve exited {proc.returncode}")
        else:
            raise AssertionError("screening API did not start")
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        if log:
            err.close()  # type: ignore[union-attr]
