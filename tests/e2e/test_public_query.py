"""The public query (policy 四(二)7) shows current public listings only: never a
non-public listing (public=false), a shielded or revoked one; ID numbers masked."""

from __future__ import annotations

import json

import pytest

from hub.config import Settings
from tests.support import run_hub, submit
from tests.unit import builders as b

pytestmark = pytest.mark.e2e


def test_public_query_hides_non_public_shielded_and_revoked(hub_settings: Settings) -> None:
    person = b.person_id(7)
    other = b.person_id(8)
    hidden = b.person_id(9)
    decisions = [
        b.list_data("L-pub", kind="person", subject={"kind": "person", "name": "林某", "id_number": person}),
        b.list_data("L-priv", kind="person", public=False, subject={"kind": "person", "name": "陳某", "id_number": hidden}),
        b.list_data("L-shield", kind="person", subject={"kind": "person", "name": "黃某", "id_number": other}),
        b.shield_data("L-shield", decided_at=b.when(5)),
        b.list_data("L-rev", kind="person", subject={"kind": "person", "name": "林某", "id_number": person}),
        b.revoke_data("L-rev", decided_at=b.when(6)),
    ]
    assert submit(hub_settings, decisions)["accepted"] == len(decisions)

    def query(*args: str) -> list[dict[str, object]]:
        return list(json.loads(run_hub(hub_settings, "court", "public-query", *args, "--format", "json").stdout))

    rows = query("--id-number", person)
    assert [r["listing_id"] for r in rows] == ["L-pub"]
    assert rows[0]["id_number"] != person and str(rows[0]["id_number"]).endswith(person[-4:])
    assert query("--id-number", hidden) == []
    assert query("--id-number", other) == []
    names = {r["listing_id"] for r in query("--name", "某")}
    assert names == {"L-pub"}
    out = run_hub(hub_settings, "court", "public-query", "--format", "json", check=False)
    assert out.returncode == 2 and "exactly one" in out.stderr
