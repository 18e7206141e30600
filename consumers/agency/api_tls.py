"""Mutual TLS for the screening service: uvicorn verifies the client certificate against
the agency's CA (`ssl_ca_certs`, `CERT_REQUIRED`); this protocol hands the verified
certificate's subject to the app (ASGI scope `state["tls_client"]`), which names the caller
by it in the query log. uvicorn's `http` option takes a protocol class; the per-connection
state is the `app_state` dict it copies into every request's scope."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def subject_name(cert: dict[str, Any] | None) -> str | None:
    """The commonName of a certificate as `ssl.SSLSocket.getpeercert()` gives it."""
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class ClientCertProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        ssl_object = transport.get_extra_info("ssl_object")
        name = subject_name(ssl_object.getpeercert()) if ssl_object is not None else None
        self.app_state = {**self.app_state, "tls_client": name or "unnamed-certificate"}
