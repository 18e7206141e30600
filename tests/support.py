"""Helpers shared by integration and e2e tests: realistic decisions, and running the real
`hub` CLI in a subprocess with a test's settings."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable
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
