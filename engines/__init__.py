"""Model engines: one module per task over a shared runtime (device, seeds, model cache).

A new engine is one module plus one line in ENGINES.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.conditional import ConditionalEngine
from engines.dit import DiTEngine
from engines.errors import ModelUnavailable
from engines.gan import GANEngine
from engines.registry import Registry
from engines.runtime import ModelCache, Runtime, choose_runtime
from engines.text import TextEngine
from engines.vae import VAEEngine

ENGINES = {"vae": VAEEngine, "gan": GANEngine, "conditional": ConditionalEngine, "dit": DiTEngine, "text": TextEngine}


@dataclass
class Engines:
    runtime: Runtime
    registry: Registry
    cache: ModelCache
    vae: VAEEngine
    gan: GANEngine
    conditional: ConditionalEngine
    dit: DiTEngine
    text: TextEngine


def create_engines(
    registry: Registry | None = None, runtime: Runtime | None = None, cache: ModelCache | None = None
) -> Engines:
    registry = registry or Registry()
    runtime = runtime or choose_runtime()
    cache = cache or ModelCache()
    return Engines(runtime, registry, cache, **{task: cls(registry, runtime, cache) for task, cls in ENGINES.items()})


def preload(engines: Engines) -> list[str]:
    """Load every task's default model now (on a Space: before the first visitor waits for it).
    Returns the ids loaded; a model that cannot load is skipped, and its tab says why when used."""
    loaded = []
    for task in ENGINES:
        spec = engines.registry.default(task)
        if spec is None:
            continue
        try:
            getattr(engines, task).load(spec.id)
            loaded.append(spec.id)
        except ModelUnavailable:
            continue
    return loaded
