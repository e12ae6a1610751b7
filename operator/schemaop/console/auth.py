"""Sessions, CSRF tokens and the local one-time code (pure, in memory).

A session holds a person's bearer token (cluster mode) or nothing (local mode:
the kubeconfig's credentials) under a random id; the browser gets only the id,
in an ``HttpOnly; SameSite=Strict`` cookie. Sessions end after
``lifetime`` seconds, or ``idle`` seconds without a request. The CSRF token is
an HMAC of the session id (or of the bearer token of a request that sent one)
under a secret made per process, so it needs no storage and dies with the
process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

__all__ = ["COOKIE", "Csrf", "OneTimeCode", "Session", "Sessions"]

COOKIE = "schemaop_console"
# Sessions kept at most (the oldest go first): a flood of logins cannot fill memory.
MAX_SESSIONS = 10_000


@dataclasses.dataclass
class Session:
    id: str
    token: str | None  # None: local mode (the kubeconfig's credentials)
    user: str
    groups: list[str]
    created: float
    last: float


class Sessions:
    def __init__(
        self,
        lifetime: float,
        idle: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.idle = idle
        self.clock = clock
        self._by_id: dict[str, Session] = {}

    def create(self, token: str | None, user: str, groups: list[str]) -> Session:
        now = self.clock()
        self._expire(now)
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.pop(next(iter(self._by_id)))
        session = Session(secrets.token_urlsafe(32), token, user, list(groups), now, now)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id (its idle time restarts), or None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if now - session.created > self.lifetime or now - session.last > self.idle:
            self._by_id.pop(session_id, None)
            return None
        session.last = now
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def _expire(self, now: float) -> None:
        gone = [
            sid
            for sid, s in self._by_id.items()
            if now - s.created > self.lifetime or now - s.last > self.idle
        ]
        for sid in gone:
            del self._by_id[sid]

    def __len__(self) -> int:
        return len(self._by_id)


class Csrf:
    """CSRF tokens: an HMAC of who the request is (a session id, or a bearer token)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def token_for(self, identity: str) -> str:
        if identity.startswith("bearer:"):
            # A token forwarded by a login proxy reaches every replica: its CSRF token
            # must not depend on this process. Only the person's browser (through the
            # proxy) and the server know the bearer token; its hash reveals nothing.
            return hashlib.sha256(b"schemaop-csrf:" + identity.encode()).hexdigest()
        return hmac.new(self._secret, identity.encode(), hashlib.sha256).hexdigest()

    def check(self, identity: str, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(self.token_for(identity).encode(), presented.encode())


class OneTimeCode:
    """The local console's login code: accepted once, within ``ttl`` seconds of start."""

    def __init__(
        self, code: str | None, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._code = code
        self._deadline = clock() + ttl
        self._clock = clock

    def redeem(self, presented: str | None) -> bool:
        code = self._code
        if not code or not presented or self._clock() > self._deadline:
            return False
        if not hmac.compare_digest(code.encode(), presented.encode()):
            return False
        self._code = None
        return True
