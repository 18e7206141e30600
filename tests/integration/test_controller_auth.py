"""No open door on the KRaft controller listener (docs/threat-model.md): what an intruder on
this machine would try, as `kafka-acls --bootstrap-controller` does, through the Java admin
client of the broker's own jars (`deploy/local/kafka.sh controller-probe`)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.admin import ACLResourcePatternType as Pattern

from hub import kafka
from hub.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.integration

PROBE = PROJECT_ROOT / "deploy" / "local" / "kafka.sh"


def _local_only(services: dict[str, str]) -> Path:
    if services["source"] != "make up":
        pytest.skip("probes the controller listener of `make up`'s broker only")
    return PROJECT_ROOT / ".local"


def _probe(topic: str, *credentials: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(PROBE), "controller-probe", topic, *credentials],
                          capture_output=True, text=True, timeout=120)


def _intruder_acls(s: Settings, topic: str) -> list[object]:
    with kafka.admin_client(s) as client:
        found, _err = client.describe_acls(ACLFilter(
            "User:intruder", None, ACLOperation.ANY, ACLPermissionType.ANY,
            ResourcePatternFilter(ResourceType.TOPIC, topic, Pattern.LITERAL)))
    return list(found)


def test_anonymous_and_wrong_password_cannot_touch_the_controller(
        services: dict[str, str], base_settings: Settings) -> None:
    local = _local_only(services)
    topic = f"probe-{uuid.uuid4().hex[:8]}.acks.finance.v1"
    anonymous = _probe(topic)
    assert anonymous.returncode == 1 and "REFUSED" in anonymous.stdout, anonymous.stdout + anonymous.stderr
    wrong = _probe(topic, "controller", "not-the-password")
    assert wrong.returncode == 1 and "SaslAuthenticationException" in wrong.stdout, wrong.stdout
    admin = _probe(topic, "admin", (local / "kafka-admin-password").read_text().strip())
    assert admin.returncode == 1, "the client listener's SCRAM admin has no PLAIN login on the controller"
    assert _intruder_acls(base_settings, topic) == []


def test_the_controller_principal_is_the_only_way_in(services: dict[str, str], base_settings: Settings) -> None:
    """The positive control of the test above: the same probe, with the controller's own
    secret, does reach the controller (so a refusal above is the authentication's doing)."""
    local = _local_only(services)
    topic = f"probe-{uuid.uuid4().hex[:8]}.acks.finance.v1"
    ok = _probe(topic, "controller", (local / "kafka-controller-password").read_text().strip())
    try:
        assert ok.returncode == 0 and "CREATED" in ok.stdout, ok.stdout + ok.stderr
        assert len(_intruder_acls(base_settings, topic)) == 1
    finally:
        with kafka.admin_client(base_settings) as client:
            client.delete_acls([ACLFilter(
                "User:intruder", None, ACLOperation.ANY, ACLPermissionType.ANY,
                ResourcePatternFilter(ResourceType.TOPIC, topic, Pattern.LITERAL))])


def test_no_anonymous_super_user_in_any_shipped_configuration() -> None:
    shipped = [PROJECT_ROOT / "deploy" / "local" / "server.properties.in",
               PROJECT_ROOT / "deploy" / "cluster" / "node.properties.in",
               PROJECT_ROOT / "deploy" / "cluster" / "production.properties",
               PROJECT_ROOT / "deploy" / "compose.yaml"]
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        assert "super" in text.lower(), path
        assert "User:ANONYMOUS" not in text, path
        assert "CONTROLLER:PLAINTEXT" not in text, path
