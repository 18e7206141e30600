"""The screening service as an approval system calls it (issue 20): 1M persons in the
projection, API-key authentication and the query log on, the real `hub agency serve`
process; the load comes from this process over loopback.

- `api.check.p99`: one subject a request (POST /v1/checks), paced at 200 requests/s;
- `api.batch1000.p99`: batches of 1,000 subjects (POST /v1/checks:batch);
- `api.saturation`: requests/s with 8 callers as fast as they go, beside a bare FastAPI
  endpoint returning a constant, served by uvicorn the same way in the same run.

    python -m bench.api [persons] [seconds]
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.agency import UNIT, _percentiles, _settings, bench_api_key, cleanup, load_persons
from bench.common import write_results
from bench.e2e_latency import hub_env

CALLERS = 8
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.post("/v1/checks")
def checks(body: dict) -> dict:
    return {"decision": "clear", "measures": [], "position": {}}
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}")
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def paced(base: str, key: str, ids: list[str], rate: float, seconds: float) -> dict[str, float]:
    """One request every 1/rate s (sent late, never skipped, when the answer is slower)."""
    times: list[float] = []
    n = int(rate * seconds)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        for number in ids[:200]:
            c.post("/v1/checks", json={"id_number": number})
        start = time.perf_counter()
        for i in range(n):
            due = start + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            t = time.perf_counter()
            r = c.post("/v1/checks", json={"id_number": ids[i % len(ids)]})
            times.append(time.perf_counter() - t)
            assert r.status_code == 200 and r.json()["decision"] == "block", r.text  # noqa: S101
        achieved = n / (time.perf_counter() - start)
    return {**_percentiles(times), "rate": achieved}


def batches(base: str, key: str, ids: list[str], n: int = 60, size: int = 1000) -> dict[str, float]:
    times: list[float] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        for i in range(n + 5):
            part = ids[(i * size) % len(ids):][:size]
            t = time.perf_counter()
            r = c.post("/v1/checks:batch", json={"subjects": [{"id_number": x} for x in part]})
            if i >= 5:  # warm-up
                times.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["results"]) == len(part), r.text  # noqa: S101
    return _percentiles(times)


def saturate(base: str, headers: dict[str, str], ids: list[str], seconds: float) -> float:
    done = [0] * CALLERS
    stop = time.perf_counter() + seconds

    def caller(k: int) -> None:
        with httpx.Client(base_url=base, headers=headers) as c:
            i = k
            while time.perf_counter() < stop:
                r = c.post("/v1/checks", json={"id_number": ids[i % len(ids)]})
                assert r.status_code == 200, r.text  # noqa: S101
                done[k] += 1
                i += CALLERS

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(CALLERS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = sys.argv[1:] if argv is None else argv
    n_persons = int(args[0]) if args else 1_000_000
    seconds = float(args[1]) if len(args) > 1 else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        s = _settings(Path(tmp))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            ids = load_persons(s, n_persons)
            key = bench_api_key(s, UNIT)
            port = _port()
            procs.append(subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "hub", "agency", "serve", "--unit", UNIT, "--port", str(port)],
                env=hub_env(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            base = f"http://127.0.0.1:{port}"
            _wait(base, procs[-1])
            step = max(len(ids) // 50_000, 1)
            sample = ids[::step]
            single = paced(base, key, sample, 200.0, seconds)
            batch = batches(base, key, sample)
            hub_rate = saturate(base, {"Authorization": f"Bearer {key}"}, sample, seconds / 2)
            bare_dir = Path(tmp) / "bare"
            bare_dir.mkdir()
            (bare_dir / "bare_api.py").write_text(BARE_APP)
            bare_port = _port()
            procs.append(subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "uvicorn", "bare_api:app", "--port", str(bare_port),
                 "--log-level", "warning", "--no-access-log"], cwd=bare_dir,
                env={**os.environ, "PYTHONPATH": str(bare_dir)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bare_base = f"http://127.0.0.1:{bare_port}"
            for _ in range(100):
                try:
                    httpx.post(f"{bare_base}/v1/checks", json={}, timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            bare_rate = saturate(bare_base, {}, sample, seconds / 2)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=60)
            cleanup(s)
    doc = {"benchmarks": [
        {"id": "api.check.p99", "name": f"screening check over HTTP, {n_persons} persons, keys and "
         "query log on, paced at 200 requests/s", "value": round(single["p99"], 3), "unit": "ms",
         "baseline": None, "ratio": None, "target": "<= 5 ms", "p50": round(single["p50"], 3),
         "rate": round(single["rate"], 1)},
        {"id": "api.batch1000.p99", "name": "screening batch of 1,000 subjects over HTTP",
         "value": round(batch["p99"], 1), "unit": "ms", "baseline": None, "ratio": None,
         "target": "<= 150 ms", "p50": round(batch["p50"], 1)},
        {"id": "api.saturation", "name": f"screening checks/s at saturation ({CALLERS} callers)",
         "value": round(hub_rate), "unit": "requests/s", "baseline": round(bare_rate),
         "ratio": round(hub_rate / bare_rate, 3),
         "target": "reported beside a bare FastAPI endpoint returning a constant"},
    ]}
    write_results("api", doc)
    for b in doc["benchmarks"]:
        print(b, file=sys.stderr)
    return doc


if __name__ == "__main__":
    main()
