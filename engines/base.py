"""What every engine shares: the loaded-model and result types, resolving a model id and loading it
once through the cache, and the recipe that describes what it made (the gallery's metadata contract)."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from engines.errors import InputError, ModelUnavailable
from engines.registry import ModelSpec, Registry
from engines.runtime import ModelCache, Runtime, library_versions


@dataclass
class Loaded:
    """A model ready to run. Engines whose models need more (class names, a size policy) extend it."""

    model: Any  # an nn.Module or a diffusers pipeline
    spec: ModelSpec
    dtype: torch.dtype
    model_hash: str


@dataclass
class Result:
    """One image an engine made, with the recipe that makes it again."""

    image: Image.Image
    recipe: dict[str, Any]
    inputs: dict[str, Image.Image] = field(default_factory=dict)  # images it was made from, by name


@dataclass
class Strip:
    """Frames of a walk (GAN, morph, VAE interpolation), saved as one strip with one recipe."""

    frames: list[Image.Image]
    recipe: dict[str, Any]
    inputs: dict[str, Image.Image] = field(default_factory=dict)  # images it was made from, by name


def weights_hash(spec: ModelSpec) -> str:
    """A short content hash of the weights (local) or the hub commit, recorded in every recipe."""
    if spec.source == "hub":
        from huggingface_hub import snapshot_download

        return "hub:" + Path(snapshot_download(spec.location, local_files_only=True)).name[:10]
    # every weights file, in subfolders too: a diffusers folder keeps them in unet/, vae/, text_encoder/
    folder = Path(spec.location)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors"), key=lambda p: p.relative_to(folder).as_posix()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def from_pretrained_fp16(pipeline_class: Any, spec: ModelSpec, runtime: Runtime) -> Any:
    """A diffusers pipeline in the runtime's dtype: from a hub repo's fp16 files where it has them
    (half the download), else from its full files, cast."""
    kwargs: dict[str, Any] = {"dtype": runtime.dtype, "use_safetensors": True}
    if spec.source == "hub" and runtime.dtype == torch.float16:
        kwargs["variant"] = "fp16"
    try:
        return pipeline_class.from_pretrained(spec.location, **kwargs)
    except (OSError, ValueError) as error:
        if "variant" not in kwargs:
            raise
        kwargs.pop("variant")  # no fp16 files in this repo: load the full ones in fp16
        try:
            return pipeline_class.from_pretrained(spec.location, **kwargs)
        except Exception:
            raise error from None


class Engine:
    """Subclasses set `task` and implement `load_model(spec) -> Loaded` for an available spec."""

    task = ""

    def __init__(self, registry: Registry, runtime: Runtime, cache: ModelCache):
        self.registry, self.runtime, self.cache = registry, runtime, cache

    def load_model(self, spec: ModelSpec) -> Loaded:
        raise NotImplementedError

    def cache_key(self, spec: ModelSpec) -> tuple[str, ...]:
        return (spec.id, self.task, str(self.runtime.device), str(self.runtime.dtype))

    def load(self, model_id: str) -> tuple[Any, threading.Lock]:
        """(the loaded model, its inference lock), from the cache or loaded now."""
        spec = self.registry.resolve(self.task, model_id)
        if not spec.available:
            raise ModelUnavailable(f"{spec.id} is unavailable: {spec.reason}")
        entry = self.cache.get(self.cache_key(spec), lambda: self.load_model(spec))
        return entry.model, entry.lock

    def is_loaded(self, model_id: str) -> bool:
        """Whether `load(model_id)` returns at once (False for ids it would refuse)."""
        try:
            return self.cache_key(self.registry.resolve(self.task, model_id)) in self.cache
        except InputError:
            return False

    def recipe(
        self, loaded: Any, operation: str, params: dict[str, Any], seed: int | None = None, **top: Any
    ) -> dict[str, Any]:
        """What made an image. `top` holds fields kept at the top level, where the gallery reads them:
        what was asked for in words (`label`, `prompt`, `negative_prompt`) and measured figures (`metrics`)."""
        return {
            "engine": self.task,
            "operation": operation,
            "model": loaded.spec.id,
            "model_source": loaded.spec.source,
            "model_hash": loaded.model_hash,
            "seed": seed,
            "params": params,
            "device": str(self.runtime.device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "versions": library_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **top,
        }


def pil_batch(batch: torch.Tensor) -> list[Image.Image]:
    """Image batch in [-1, 1] [N,3,H,W] -> 8-bit RGB PIL images."""
    array = batch.float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in array]


def tensor_batch(images) -> torch.Tensor:
    """uint8 arrays [N,H,W,3] (or RGB PIL images) -> float [N,3,H,W] in [-1, 1]: the inverse of pil_batch."""
    import numpy as np

    array = np.stack([np.asarray(image) for image in images]) if isinstance(images, list) else images
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
