"""The public query page in a real browser (Playwright driving Debian's Chromium): a search
by name or by ID number finds current public listings, masked, and never a non-public,
shielded or revoked one — here, a non-public listing of the same person as a public one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.config import Settings
from tests.conftest import hub_env
from tests.support import submit
from tests.unit.builders import list_data, person_id, shield_data, subject_person, when

pytestmark = pytest.mark.e2e

BROWSER = os.environ.get("HUB_BROWSER", "/usr/bin/chromium")
SAME, OTHER = person_id(31), person_id(32)


@pytest.fixture()
def page_url(hub_settings: Settings) -> Iterator[str]:
    submit(hub_settings, [
        list_data("PUB-1", kind="person", subject=subject_person(31, name="林公開"), decided_at=when(0),
                  case_no="(2026)閩0402執1號"),
        list_data("HID-1", kind="person", subject=subject_person(31, name="林公開"), public=False,
                  decided_at=when(1), case_no="(2026)閩0402執2號"),
        list_data("SHD-1", kind="person", subject=subject_person(32, name="陳屏蔽"), decided_at=when(2)),
        shield_data("SHD-1", decided_at=when(3)),
    ])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = hub_env(hub_settings) | {"HUB_PUBLIC_RATE_PER_MINUTE": "30"}
    proc = subprocess.Popen([sys.executable, "-m", "hub", "court", "public-serve", "--port", str(port)],  # noqa: S603
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("public page did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_public_page_in_a_browser(page_url: str, tmp_path: Path) -> None:
    if not Path(BROWSER).exists():
        pytest.fail(f"no browser at {BROWSER}: `make up` installs Debian's chromium as root "
                    "(apt-get install -y chromium), or set HUB_BROWSER")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_url)
        assert "免費" in page.inner_text("footer") and "profit" in page.inner_text("footer")
        # by ID number: the public listing, never the non-public one of the same person
        page.get_by_label("身份證號碼或統一社會信用代碼").fill(SAME)
        page.get_by_role("button").click()
        page.wait_for_selector("table")
        rows = page.locator("tbody tr")
        assert rows.count() == 1
        text = page.inner_text("main")
        assert "PUB-1" in text and "HID-1" not in text and "(2026)閩0402執2號" not in text
        assert SAME not in page.content() and SAME[:6] in text  # masked
        page.screenshot(path=str(tmp_path / "public-search.png"))
        # by name: a shielded listing never appears
        page.goto(page_url)
        page.get_by_label("名稱").fill("陳屏蔽")
        page.get_by_role("button").click()
        page.wait_for_selector("[role=status]")
        assert "沒有符合的公開名單" in page.inner_text("main") and "SHD-1" not in page.content()
        # a bad number is said, not searched
        page.goto(page_url)
        page.get_by_label("身份證號碼或統一社會信用代碼").fill(SAME[:-1] + ("0" if SAME[-1] != "0" else "1"))
        page.get_by_role("button").click()
        assert "check character" in page.inner_text("[role=alert]")
        browser.close()


def test_the_json_endpoint_and_the_rate_limit(page_url: str) -> None:
    r = httpx.post(f"{page_url}/api/v1/search", json={"id_number": SAME})
    assert r.status_code == 200, r.text
    assert [x["listing_id"] for x in r.json()["listings"]] == ["PUB-1"]
    assert SAME not in r.text and "profit" in r.json()["terms"]
    assert httpx.post(f"{page_url}/api/v1/search", json={"name": "陳屏蔽"}).json()["listings"] == []
    assert httpx.post(f"{page_url}/api/v1/search", json={}).status_code == 422
    statuses = [httpx.post(f"{page_url}/api/v1/search", json={"name": "林"}).status_code for _ in range(40)]
    assert 429 in statuses and statuses[0] == 200
