"""The project's own exceptions. Adapters translate driver errors into these
(`raise ServiceUnavailable(...) from e`) so callers never import a driver to catch one."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""

    exit_code = 1


class ConfigError(HubError):
    """A setting is missing or malformed."""


class ServiceUnavailable(HubError):
    """Kafka or PostgreSQL does not answer."""

    exit_code = 3

    def __init__(self, service: str, address: str, cause: str = "") -> None:
        self.service = service
        self.address = address
        detail = f": {cause}" if cause else ""
        super().__init__(f"{service} at {address} does not answer{detail}")


class InputError(HubError):
    """Bad input from a user or an upstream system (file, arguments)."""

    exit_code = 2
