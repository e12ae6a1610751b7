"""Where a Secret's password may go: the ``schemaop.io/allowed-hosts`` annotation (pure).

With ``connection.passwordFrom`` the host, port, user and database come from the
SchemaVersion and only the password from the Secret, so whoever may create a
SchemaVersion could send a Secret's password to a server of their choosing. The
Secret's owner closes that by naming the hosts the password may be sent to::

    metadata:
      annotations:
        schemaop.io/allowed-hosts: "db.prod.svc,10.0.0.5:5432,[fd00::5]:6432"

Entries are comma-separated ``host`` (any port) or ``host:port`` (that port; an
IPv6 address in brackets). Host names compare without case and without a
trailing dot. A SchemaVersion whose ``spec.connection.host`` (each host of a
libpq multi-host list) and port are not all named is refused before any
connection (reason ``HostNotAllowed``); so is any ``passwordFrom`` Secret
without the annotation when the operator runs with ``--require-allowed-hosts``.
:func:`host_problem` is the check; the reconciler reads the annotation
(:mod:`schemaop.kube.api`) and calls it before it connects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemaop.model.names import ANNOTATION_ALLOWED_HOSTS

DEFAULT_PORT = 5432


def _host(name: str) -> str:
    return name.strip().lower().rstrip(".")


def parse_allowed_hosts(text: str) -> list[tuple[str, int | None]]:
    """``(host, port or None)`` per entry; ValueError names (by number, never by its
    text) an entry that cannot be read."""
    out: list[tuple[str, int | None]] = []
    for number, raw in enumerate(text.split(","), 1):
        entry = raw.strip()
        if not entry:
            continue
        port: str | None = None
        if entry.startswith("["):
            host, sep, rest = entry[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"entry {number} is not [IPv6] or [IPv6]:port")
            port = rest[1:] if rest else None
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        else:
            host = entry  # a name, an IPv4 address, or a bare IPv6 address: any port
        if not _host(host):
            raise ValueError(f"entry {number} has no host")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"entry {number} has a port that is not a number from 1 to 65535")
        out.append((_host(host), int(port) if port is not None else None))
    return out


def _targets(connection: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every (host, port) libpq would try for ``spec.connection`` (multi-host lists too)."""
    hosts = [_host(h) for h in str(connection.get("host") or "").split(",")]
    ports = [p.strip() for p in str(connection.get("port") or DEFAULT_PORT).split(",")]
    if len(ports) == 1:
        ports = ports * len(hosts)
    out: list[tuple[str, int]] = []
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else str(DEFAULT_PORT)
        out.append((host, int(port) if port.isdigit() else DEFAULT_PORT))
    return out


def host_problem(
    connection: Mapping[str, Any],
    annotations: Mapping[str, str] | None,
    *,
    secret: str,
    required: bool = False,
) -> str | None:
    """Why the password of the Secret named ``secret`` (``namespace/name``) must not
    be sent to ``connection`` (a SchemaVersion's ``spec.connection`` with
    ``passwordFrom``), or None. ``required``: a Secret without the annotation is
    refused too (the operator's ``--require-allowed-hosts``). Names no password."""
    text = (annotations or {}).get(ANNOTATION_ALLOWED_HOSTS)
    if text is None:
        if not required:
            return None
        return (
            f"Secret {secret} does not say where its password may be sent, and this operator "
            f"sends a passwordFrom password only to hosts the Secret names "
            f"(--require-allowed-hosts); annotate it: kubectl annotate secret "
            f"{secret.split('/', 1)[-1]} -n {secret.split('/', 1)[0]} "
            f"{ANNOTATION_ALLOWED_HOSTS}=HOST[:PORT],..."
        )
    try:
        allowed = parse_allowed_hosts(text)
    except ValueError as exc:
        return (
            f"Secret {secret} has an annotation {ANNOTATION_ALLOWED_HOSTS} that cannot be "
            f"read ({exc}); nothing connects until its owner fixes it"
        )
    refused = [
        (host, port)
        for host, port in _targets(connection)
        if not any(host == a_host and a_port in (None, port) for a_host, a_port in allowed)
    ]
    if not refused:
        return None
    # The allowed hosts are not shown: the SchemaVersion's author may not read the Secret.
    shown = ", ".join(f"{h}:{p}" for h, p in refused)
    return (
        f"spec.connection points at {shown}, which Secret {secret} does not allow its "
        f"password to be sent to (annotation {ANNOTATION_ALLOWED_HOSTS}); nothing connects "
        "until spec.connection names a host the Secret allows or its owner adds this one"
    )
