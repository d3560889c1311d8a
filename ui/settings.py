"""The studio's caps, each an environment setting with a default for a public Space (SPACE_ID set)
and one for your own machine. The README's "Sharing it" table lists them.

| setting | on a Space | locally |
|---|---|---|
| ATELIER_PRIVATE_GALLERIES | on | off (one gallery) |
| ATELIER_QUEUE_SIZE: requests waiting, beyond it "the queue is full" | 64 | no cap |
| ATELIER_CONCURRENCY: requests run at once per endpoint | 2 | 2 |
| ATELIER_RATE_PER_MINUTE: engine calls per visitor a minute | 30 | no cap |
| ATELIER_GALLERY_IMAGES: images per visitor | 500 | no cap |
| ATELIER_GALLERY_MB: megabytes per visitor | 50 | no cap |
| ATELIER_GALLERY_TOTAL_MB: megabytes of the whole gallery | 5000 | no cap |
| ATELIER_SESSIONS: sessions whose page state Gradio keeps in memory (~0.6 MB each) | 100 | 10000 |
| ATELIER_MALLOC_ARENAS: glibc malloc arenas (0: glibc's default, 8 per core) | 2 | 2 |
| ATELIER_CACHE_HOURS: Gradio's served copies and uploads are deleted after | 24 | 24 |
| ATELIER_LOG_CHARS: longest log line (a message and its traceback) | 4000 | 4000 |

ATELIER_HUB_ALLOWLIST (engines/registry.py) and ATELIER_ALLOW_LOCAL_PATHS are the model settings.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from gallery import Limits
from ui.visitors import on_space


def number(name: str, space: float | None, local: float | None) -> float | None:
    """A setting's value: the environment's, else the default where this runs; 0 or "none": no cap."""
    raw = os.environ.get(name)
    if raw is None:
        return space if on_space() else local
    if raw.strip().lower() in ("", "0", "none", "off"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number (or 0 for no cap), not {raw!r}") from None
    if value < 0:
        raise SystemExit(f"{name} must not be negative, not {raw!r}")
    return value


def flag(name: str, space: bool, local: bool) -> bool:
    """An on/off setting: the environment's ("0", "false", "no": off), else the default where this runs."""
    raw = os.environ.get(name)
    if not raw:
        return space if on_space() else local
    return raw.lower() not in ("0", "false", "no")


def whole(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Settings:
    private: bool
    queue_size: int | None
    concurrency: int
    rate_per_minute: int
    gallery: Limits
    sessions: int
    malloc_arenas: int
    cache_hours: float
    log_chars: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            private=flag("ATELIER_PRIVATE_GALLERIES", True, False),
            queue_size=whole(number("ATELIER_QUEUE_SIZE", 64, None)),
            concurrency=whole(number("ATELIER_CONCURRENCY", 2, 2)) or 1,
            rate_per_minute=whole(number("ATELIER_RATE_PER_MINUTE", 30, None)) or 0,
            gallery=Limits(
                images_per_owner=whole(number("ATELIER_GALLERY_IMAGES", 500, None)),
                megabytes_per_owner=number("ATELIER_GALLERY_MB", 50, None),
                megabytes_total=number("ATELIER_GALLERY_TOTAL_MB", 5000, None),
            ),
            sessions=whole(number("ATELIER_SESSIONS", 100, 10000)) or 10000,
            malloc_arenas=whole(number("ATELIER_MALLOC_ARENAS", 2, 2)) or 0,
            cache_hours=number("ATELIER_CACHE_HOURS", 24, 24) or 24,
            log_chars=whole(number("ATELIER_LOG_CHARS", 4000, 4000)) or 4000,
        )


class ShortLines(logging.Formatter):
    """Log lines cut to a length: a request's 10 MB argument is never written to the log whole."""

    def __init__(self, fmt: str, chars: int):
        super().__init__(fmt)
        self.chars = chars

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if len(line) <= self.chars:
            return line
        return f"{line[: self.chars]}… [{len(line) - self.chars} more characters]"


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas (before the server's threads start). Each worker thread otherwise
    gets an arena of its own, up to 8 per core, and a server's RSS creeps up as they fill with freed
    but unreturned memory: measured (benchmarks/soak.py, 3,000 requests), RSS +11.8% after the first
    300 with glibc's default, +5.7% with 2 arenas. False where the C library is not glibc."""
    if not arenas:
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX
    except (OSError, AttributeError):
        return False
