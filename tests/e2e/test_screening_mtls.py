"""Mutual TLS, for an agency that prefers client certificates to API keys: the service
(`serve --tls-cert --tls-key --tls-client-ca`) accepts a caller whose certificate its CA
signed, names it by the certificate in the query log, and refuses a caller without one."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub import accounts
from hub.config import Settings
from tests.integration.test_agency_feed import hub_cli
from tests.support import serving, submit
from tests.unit.builders import list_data, person_id, subject_person, when

pytestmark = pytest.mark.e2e

UNIT = "rail-air-operators"


def _issue(name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
           *, ca: bool = False, server: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


def test_client_certificates_authenticate_callers(provisioned: Settings, tmp_path: Path) -> None:
    submit(provisioned, [list_data("L1", kind="person", subject=subject_person(21), decided_at=when(0))])
    u = accounts.settings_as(provisioned, accounts.unit_account(UNIT))
    hub_cli(u, "agency", "run", "--unit", UNIT, "--until-idle")

    ca_cert, ca_key = _issue("agency CA", None, ca=True)
    ca_crt, _ = _write(tmp_path / "ca", ca_cert, ca_key)
    server = _write(tmp_path / "server", *_issue("screening", (ca_cert.subject, ca_key), server=True))
    client = _write(tmp_path / "client", *_issue("loan-desk.bank", (ca_cert.subject, ca_key)))
    stranger_ca = _issue("other CA", None, ca=True)
    stranger = _write(tmp_path / "stranger", *_issue("intruder", (stranger_ca[0].subject, stranger_ca[1])))

    def context(cert: tuple[str, str] | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=ca_crt)
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx

    args = ("--tls-cert", server[0], "--tls-key", server[1], "--tls-client-ca", ca_crt)
    with serving(u, UNIT, args=args, tls={"verify": context(client)}) as (base, _proc):
        with httpx.Client(base_url=base, verify=context(client)) as c:
            r = c.post("/v1/checks", json={"id_number": person_id(21)})
            assert r.status_code == 200 and r.json()["decision"] == "block", r.text
            assert c.get("/v1/listings/L1").status_code == 403  # the certificate's scope: check
        for cert in (None, stranger):
            with httpx.Client(base_url=base, verify=context(cert)) as c, pytest.raises(httpx.HTTPError):
                c.post("/v1/checks", json={"id_number": person_id(21)})
    rows = json.loads(hub_cli(u, "agency", "queries", "--unit", UNIT, "--format", "json").stdout)
    assert [q["key"] for q in rows["queries"]] == ["tls:loan-desk.bank"]
