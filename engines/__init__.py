"""Model engines: one module per task over a shared runtime (device, seeds, model cache).

`Engines` holds one engine per task. Torch, the engines' modules and the runtime are imported
on first use, not on `import engines`, so the page can be served before torch is loaded
(app.py); the registry, the limits and the class labels need no torch. A new engine is a module
with an `Engine` subclass, a line in ENGINES and a property below.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engines.errors import ModelUnavailable
from engines.registry import Registry

if TYPE_CHECKING:
    from engines.conditional import ConditionalEngine
    from engines.dit import DiTEngine
    from engines.edit import EditEngine
    from engines.gan import GANEngine
    from engines.image_to_image import ImageToImageEngine
    from engines.restyle import RestyleEngine
    from engines.runtime import ModelCache, Runtime
    from engines.text import TextEngine
    from engines.upscale import UpscaleEngine
    from engines.vae import VAEEngine

# task -> (module, class), in the order the page shows them (and preload loads them)
ENGINES = {
    "gan": ("engines.gan", "GANEngine"),
    "conditional": ("engines.conditional", "ConditionalEngine"),
    "vae": ("engines.vae", "VAEEngine"),
    "text": ("engines.text", "TextEngine"),
    "dit": ("engines.dit", "DiTEngine"),
    "upscale": ("engines.upscale", "UpscaleEngine"),
    "edit": ("engines.edit", "EditEngine"),
    "restyle": ("engines.restyle", "RestyleEngine"),
    "image_to_image": ("engines.image_to_image", "ImageToImageEngine"),
}


class Engines:
    """Every task's engine over one registry, runtime and model cache, each made on first use."""

    def __init__(
        self, registry: Registry | None = None, runtime: Runtime | None = None, cache: ModelCache | None = None
    ):
        self.registry = registry or Registry()
        self._runtime, self._cache = runtime, cache
        self._engines: dict[str, Any] = {}
        self._lock = threading.RLock()

    @property
    def runtime(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                from engines.runtime import choose_runtime

                self._runtime = choose_runtime()
            return self._runtime

    @property
    def cache(self) -> ModelCache:
        with self._lock:
            if self._cache is None:
                from engines.runtime import ModelCache

                self._cache = ModelCache()
            return self._cache

    def engine(self, task: str) -> Any:
        """The engine of a task ("gan", "vae", ...), made now if it is the first use."""
        with self._lock:
            if task not in self._engines:
                module, name = ENGINES[task]
                engine_class = getattr(importlib.import_module(module), name)
                self._engines[task] = engine_class(self.registry, self.runtime, self.cache)
            return self._engines[task]

    def is_loaded(self, task: str, model_id: str) -> bool:
        """Whether a call to this model runs at once: its engine is made and the model is in the cache."""
        with self._lock:
            engine = self._engines.get(task)
        return engine is not None and engine.is_loaded(model_id)

    @property
    def gan(self) -> GANEngine:
        return self.engine("gan")

    @property
    def conditional(self) -> ConditionalEngine:
        return self.engine("conditional")

    @property
    def vae(self) -> VAEEngine:
        return self.engine("vae")

    @property
    def text(self) -> TextEngine:
        return self.engine("text")

    @property
    def dit(self) -> DiTEngine:
        return self.engine("dit")

    @property
    def upscale(self) -> UpscaleEngine:
        return self.engine("upscale")

    @property
    def edit(self) -> EditEngine:
        return self.engine("edit")

    @property
    def restyle(self) -> RestyleEngine:
        return self.engine("restyle")

    @property
    def image_to_image(self) -> ImageToImageEngine:
        return self.engine("image_to_image")


def create_engines(
    registry: Registry | None = None, runtime: Runtime | None = None, cache: ModelCache | None = None
) -> Engines:
    return Engines(registry, runtime, cache)


def preload(engines: Engines, tasks: list[str] | None = None, pause: Callable[[], None] | None = None) -> list[str]:
    """Load the default model of every task (or of `tasks`) now, in the page's order; the app does
    this right after the page is served, calling `pause` before each model so that requests made
    meanwhile go first. Returns the ids loaded; a model that cannot load is skipped, and its tab
    says why when used."""
    loaded = []
    for task in tasks or ENGINES:
        if pause is not None:
            pause()
        spec = engines.registry.default(task)
        if spec is None:
            continue
        try:
            engines.engine(task).load(spec.id)
            loaded.append(spec.id)
        except ModelUnavailable:
            continue
    return loaded
