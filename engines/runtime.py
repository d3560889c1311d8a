"""What every engine shares: device and dtype choice, seeded noise, the model cache.

Device: CUDA -> fp16, Apple MPS -> fp16, else CPU fp32. Override with ATELIER_DEVICE
(cuda, cuda:1, mps, cpu) and ATELIER_DTYPE (float32, float16, bfloat16).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch

from engines.errors import ModelUnavailable

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        return f"{name} · {str(self.dtype).removeprefix('torch.')} · torch {torch.__version__}"


def choose_runtime(env: dict[str, str] | None = None) -> Runtime:
    env = dict(os.environ) if env is None else env
    requested = env.get("ATELIER_DEVICE", "").strip().lower()
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("ATELIER_DEVICE asks for CUDA, but torch sees no CUDA device")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    requested_dtype = env.get("ATELIER_DTYPE", "").strip().lower()
    if requested_dtype:
        if requested_dtype not in DTYPES:
            raise RuntimeError(f"ATELIER_DTYPE must be one of {sorted(DTYPES)}, not {requested_dtype!r}")
        dtype = DTYPES[requested_dtype]
    else:
        dtype = torch.float32 if device.type == "cpu" else torch.float16
    return Runtime(device, dtype)


def seeded_noise(
    shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Gaussian noise [N, *shape[1:]] where row i is drawn from a CPU generator seeded seed + i.

    Drawn on the CPU, then moved, so one seed gives one image on every device, and any
    image of a batch can be re-made alone with its own seed.
    """
    rows = [torch.randn(shape[1:], generator=torch.Generator("cpu").manual_seed(seed + i)) for i in range(shape[0])]
    return torch.stack(rows).to(device=device, dtype=dtype)


def module_bytes(model: Any) -> int:
    """Memory held by a model's parameters and buffers (0 for things that are not nn.Modules)."""
    if isinstance(model, torch.nn.Module):
        return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    components = getattr(model, "components", None)  # diffusers pipelines
    if isinstance(components, dict):
        return sum(module_bytes(c) for c in components.values())
    return 0


# diffusers and transformers build models under accelerate's init_empty_weights, which patches
# torch.nn.Module for the whole process while it runs: a model built in another thread meanwhile
# gets weights on the meta device ("Cannot copy out of meta tensor"). The page loads models in
# the background while visitors click, so loads take turns.
_ONE_LOAD_AT_A_TIME = threading.RLock()


@dataclass
class CachedModel:
    model: Any
    size_bytes: int
    lock: threading.Lock = field(default_factory=threading.Lock)  # one inference at a time per model


class ModelCache:
    """Loads each model once per key, keeps the most recently used ones within a memory budget.

    Concurrent requests for the same key wait for one load instead of loading twice. A load
    that fails raises ModelUnavailable with the reason; the cache and other models are untouched.
    """

    def __init__(self, budget_bytes: int | None = None):
        if budget_bytes is None:
            budget_bytes = int(float(os.environ.get("ATELIER_CACHE_GB", "8")) * 2**30)
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, CachedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, load: Callable[[], Any]) -> CachedModel:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:  # another thread may have finished loading while we waited
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            try:
                with _ONE_LOAD_AT_A_TIME:
                    model = load()
            except ModelUnavailable:
                raise
            except Exception as error:
                raise ModelUnavailable(f"could not load {key_name(key)}: {type(error).__name__}: {error}") from error
            entry = CachedModel(model, module_bytes(model))
            with self._lock:
                self._entries[key] = entry
                self._evict(keep=key)
                self._loading.pop(key, None)
            return entry

    def _evict(self, keep: Hashable) -> None:
        evicted = False
        while sum(e.size_bytes for e in self._entries.values()) > self.budget_bytes and len(self._entries) > 1:
            oldest = next(k for k in self._entries if k != keep)
            del self._entries[oldest]
            evicted = True
        if evicted:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def key_name(key: Hashable) -> str:
    return str(key[0]) if isinstance(key, tuple) and key else str(key)


def library_versions() -> dict[str, str]:
    return dict(_library_versions())  # a copy: recipes are edited by their callers


@functools.cache
def _library_versions() -> dict[str, str]:
    """Read once per process: importlib.metadata scans site-packages (~1 ms a name), and every
    image's recipe carries the versions, so a 64-image grid would spend longer here than in G."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("torch", "diffusers", "gradio", "transformers"):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    return versions
