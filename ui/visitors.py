"""Who is asking: each visitor's own gallery on a public Space, and how often they may ask.

A visitor is known by, in this order:
- their Hugging Face login, when the Space enables OAuth (`hf_oauth: true`): the same gallery on any
  browser or device;
- a per-browser key: 256 random bits made by the server on the first visit and kept in the browser's
  localStorage (`gr.BrowserState`, encrypted with the studio's secret): the same gallery after a
  reload or a restart, on that browser only;
- otherwise (an API client) its session: `gradio_client.Client` sends one session hash with every
  call, so a client keeps its gallery for as long as it keeps the Client object.

Owners are stored hashed: the gallery's index never holds a key. Private galleries are on when
`ATELIER_PRIVATE_GALLERIES` says so, and by default on a Space (`SPACE_ID` is set there).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import InputError

# the request being answered, set by ui.widgets.user_errors around every handler (and every step of a
# streaming one), read here so that saving and listing know whose gallery it is
REQUEST: contextvars.ContextVar[Any] = contextvars.ContextVar("atelier_request", default=None)
MAX_SESSIONS = 10_000  # page sessions remembered (session hash -> visitor); the oldest are forgotten
KEY_BYTES = 32


def on_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


@contextlib.contextmanager
def answering(request: Any) -> Iterator[None]:
    """The request being answered, while a handler runs; a handler called by another keeps its caller's."""
    token = REQUEST.set(request if request is not None else REQUEST.get())
    try:
        yield
    finally:
        REQUEST.reset(token)


def hashed(kind: str, secret: str) -> str:
    return f"{kind}:{hashlib.sha256(f'{kind}:{secret}'.encode()).hexdigest()[:32]}"


@dataclass
class RateLimit:
    """At most `per_minute` engine calls per visitor in any 60 s (0: no limit)."""

    per_minute: int = 0

    def __post_init__(self) -> None:
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, visitor: str) -> None:
        if not self.per_minute:
            return
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(visitor, deque())
            while calls and now - calls[0] > 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                wait = 60 - (now - calls[0])
                raise InputError(
                    f"too many requests: {self.per_minute} a minute per visitor; try again in {wait:.0f} s"
                )
            calls.append(now)
            if len(self._calls) > MAX_SESSIONS:  # forget visitors idle for a minute
                for key in [k for k, v in self._calls.items() if not v or now - v[-1] > 60]:
                    del self._calls[key]


class Visitors:
    def __init__(self, private: bool, secret_file: Path, rate: RateLimit | None = None):
        self.private, self.rate = private, rate or RateLimit()
        self.secret = self._secret(secret_file)
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _secret(path: Path) -> str:
        """The key that encrypts the browser keys in localStorage. It must outlive restarts (a new one
        would lose every visitor's gallery), so it is kept beside the gallery it guards."""
        if env := os.environ.get("ATELIER_SECRET"):
            return env
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            secret = secrets.token_urlsafe(32)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secret)
            return secret

    def identify(self, request: Any, key: Any, login: str | None) -> str:
        """At page load: remember who this page session is, and return the browser's key (a new one
        on a first visit, or if what the browser sent is not a key we could have made)."""
        if not isinstance(key, str) or len(key) != 2 * KEY_BYTES or not all(c in "0123456789abcdef" for c in key):
            key = secrets.token_hex(KEY_BYTES)
        owner = hashed("hf", login) if login else hashed("browser", key)
        session = getattr(request, "session_hash", None)
        if session:
            with self._lock:
                self._sessions[session] = owner
                self._sessions.move_to_end(session)
                while len(self._sessions) > MAX_SESSIONS:
                    self._sessions.popitem(last=False)
        return key

    def owner(self, request: Any = None) -> str | None:
        """Whose gallery a request acts on: None in a local studio (one gallery for everyone)."""
        if not self.private:
            return None
        request = request if request is not None else REQUEST.get()
        session = getattr(request, "session_hash", None)
        if not session:
            return None  # a private gallery shows nothing to no one
        with self._lock:
            known = self._sessions.get(session)
        return known or hashed("session", session)

    def admit(self) -> None:
        """Count one engine call against the asking visitor's rate, or say when to retry."""
        request = REQUEST.get()
        visitor = self.owner(request) or getattr(request, "session_hash", None) or "local"
        self.rate.admit(visitor)
