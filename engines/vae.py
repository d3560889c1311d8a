"""VAE engine: reconstruct, interpolate and sample with any diffusers autoencoder.

Bundled emoji VAEs (checkpoints/*/atelier.json with task "vae"), hub VAEs
(stabilityai/sd-vae-ft-mse as AutoencoderKL, madebyollin/taesd as AutoencoderTiny) and local
folders all load through `load_autoencoder`.

Input policy: a model trained at a fixed size (atelier.json "image_size") gets the image
centre-cropped to a square and resized to that size. Other VAEs are fully convolutional and
work at the image's own aspect ratio, shrunk to a maximum side and tiled for large images.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engines.errors import InputError, ModelUnavailable
from engines.imaging import center_square, difference_heatmap, fit_multiple, load_image
from engines.metrics import psnr, ssim
from engines.registry import ModelSpec, Registry
from engines.runtime import ModelCache, Runtime, check_int, check_seed, library_versions, seeded_noise

MAX_SIDE = int(os.environ.get("ATELIER_VAE_MAX_SIDE", "512"))  # hub VAEs: longest side processed
MAX_INTERPOLATION_STEPS = 32
MAX_SAMPLES = 16
AUTOENCODER_CLASSES = ("AutoencoderKL", "AutoencoderTiny")


@dataclass
class LoadedVAE:
    model: Any
    spec: ModelSpec
    dtype: torch.dtype
    model_hash: str
    fixed_size: int | None  # trained size, or None for "keep aspect ratio"
    multiple: int  # image sides must be a multiple of this (the downsampling factor)
    latent_mean: torch.Tensor | None  # per-channel statistics of training latents (bundled models)
    latent_std: torch.Tensor | None

    @property
    def policy(self) -> str:
        if self.fixed_size:
            return (
                f"Input images are centre-cropped to a square and resized to {self.fixed_size}×{self.fixed_size} "
                "px, the size this model was trained on."
            )
        return (
            f"Input images keep their aspect ratio, shrunk so the longest side is at most {MAX_SIDE} px, "
            f"sides rounded to a multiple of {self.multiple}; large images are processed in tiles."
        )


@dataclass
class Reconstruction:
    original: Image.Image  # the input as the model saw it
    reconstruction: Image.Image
    heatmap: Image.Image
    psnr: float
    ssim: float
    recipe: dict[str, Any]


@dataclass
class Interpolation:
    frames: list[Image.Image]
    inputs: tuple[Image.Image, Image.Image]
    recipe: dict[str, Any]


@dataclass
class Sample:
    image: Image.Image
    recipe: dict[str, Any]


def read_config(spec: ModelSpec) -> dict[str, Any]:
    if spec.source == "hub":
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(spec.location, "config.json")
    else:
        path = Path(spec.location) / "config.json"
        if not path.is_file():
            raise ModelUnavailable(f"{spec.id}: no config.json in {spec.location}")
    return json.loads(Path(path).read_text())


def weights_hash(spec: ModelSpec) -> str:
    """A short content hash of the weights (local) or the hub commit, recorded in every recipe."""
    if spec.source == "hub":
        from huggingface_hub import snapshot_download

        return "hub:" + Path(snapshot_download(spec.location, local_files_only=True)).name[:10]
    digest = hashlib.sha256()
    for path in sorted(Path(spec.location).glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def load_autoencoder(spec: ModelSpec, runtime: Runtime) -> LoadedVAE:
    if not spec.available:
        raise ModelUnavailable(f"{spec.id} is unavailable: {spec.reason}")
    config = read_config(spec)
    class_name = config.get("_class_name")
    if class_name not in AUTOENCODER_CLASSES:
        raise ModelUnavailable(f"{spec.id} is a {class_name}, not one of {', '.join(AUTOENCODER_CLASSES)}")
    import diffusers

    dtype = runtime.dtype
    if config.get("force_upcast", False) and dtype == torch.float16:
        dtype = torch.float32  # VAEs that overflow in fp16 (NaNs) say so in their config
    # use_safetensors: weights are never unpickled, whoever made them
    model = getattr(diffusers, class_name).from_pretrained(spec.location, dtype=dtype, use_safetensors=True)
    model = model.to(runtime.device).eval().requires_grad_(False)
    settings = spec.settings
    fixed_size = settings.get("image_size")
    if not fixed_size:
        model.enable_tiling()  # only splits inputs larger than the model's own sample size
    multiple = 2 ** (len(config.get("block_out_channels", [0] * 4)) - 1) if class_name == "AutoencoderKL" else 8
    stats = settings.get("latent_mean"), settings.get("latent_std")
    return LoadedVAE(
        model,
        spec,
        dtype,
        weights_hash(spec),
        fixed_size,
        multiple,
        torch.tensor(stats[0]) if stats[0] else None,
        torch.tensor(stats[1]) if stats[1] else None,
    )


def encode(model: Any, x: torch.Tensor) -> torch.Tensor:
    """Image batch in [-1, 1] -> latents (the posterior mode for KL autoencoders)."""
    out = model.encode(x)
    return out.latent_dist.mode() if hasattr(out, "latent_dist") else out.latents


def decode(model: Any, z: torch.Tensor) -> torch.Tensor:
    return model.decode(z).sample.clamp(-1, 1)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1


def tensor_to_pil(batch: torch.Tensor) -> list[Image.Image]:
    array = batch.float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in array]


class VAEEngine:
    task = "vae"

    def __init__(self, registry: Registry, runtime: Runtime, cache: ModelCache):
        self.registry, self.runtime, self.cache = registry, runtime, cache

    def models(self) -> list[ModelSpec]:
        return self.registry.models(self.task)

    def load(self, model_id: str) -> tuple[LoadedVAE, Any]:
        """(the loaded model, its inference lock), from the cache or loaded now."""
        spec = self.registry.resolve(self.task, model_id)
        key = (spec.id, str(self.runtime.device), str(self.runtime.dtype))
        entry = self.cache.get(key, lambda: load_autoencoder(spec, self.runtime))
        return entry.model, entry.lock

    def prepare(self, loaded: LoadedVAE, source: Any) -> Image.Image:
        image = load_image(source)
        if loaded.fixed_size:
            return center_square(image, loaded.fixed_size)
        return fit_multiple(image, MAX_SIDE, loaded.multiple)

    def recipe(
        self, loaded: LoadedVAE, operation: str, params: dict[str, Any], seed: int | None = None
    ) -> dict[str, Any]:
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
        }

    def _to_device(self, loaded: LoadedVAE, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.runtime.device, loaded.dtype)

    def reconstruct(self, image: Any, model_id: str) -> Reconstruction:
        loaded, lock = self.load(model_id)
        original = self.prepare(loaded, image)
        with lock, torch.inference_mode():
            y = decode(loaded.model, encode(loaded.model, self._to_device(loaded, pil_to_tensor(original))))
        reconstruction = tensor_to_pil(y)[0]
        a, b = (pil_to_tensor(im) for im in (original, reconstruction))  # scores on the saved 8-bit pixels
        a, b = (a + 1) / 2, (b + 1) / 2
        score_psnr, score_ssim = psnr(a, b).item(), ssim(a, b).item()
        params = {"size": f"{original.width}x{original.height}", "policy": "square" if loaded.fixed_size else "aspect"}
        recipe = self.recipe(loaded, "reconstruct", params)
        recipe["metrics"] = {"psnr": round(score_psnr, 3), "ssim": round(score_ssim, 4)}
        return Reconstruction(
            original, reconstruction, difference_heatmap(original, reconstruction), score_psnr, score_ssim, recipe
        )

    def interpolate(self, image_a: Any, image_b: Any, steps: Any, model_id: str) -> Interpolation:
        steps = check_int("steps", steps, 2, MAX_INTERPOLATION_STEPS)
        loaded, lock = self.load(model_id)
        a = self.prepare(loaded, image_a)
        b = self.prepare(loaded, image_b).resize(a.size, Image.Resampling.LANCZOS)
        with lock, torch.inference_mode():
            z = encode(loaded.model, self._to_device(loaded, torch.cat([pil_to_tensor(a), pil_to_tensor(b)])))
            # Linear in latent space: VAE latents are not Gaussian-normalised like GAN noise, so slerp buys nothing.
            t = torch.linspace(0, 1, steps, device=z.device, dtype=z.dtype)[:, None, None, None]
            frames = tensor_to_pil(decode(loaded.model, z[:1] * (1 - t) + z[1:] * t))
        return Interpolation(
            frames, (a, b), self.recipe(loaded, "interpolate", {"steps": steps, "size": f"{a.width}x{a.height}"})
        )

    def sample(self, seed: Any, count: Any, model_id: str) -> list[Sample]:
        """Decode latents drawn from the prior. Bundled models use the per-channel Gaussian fitted
        to their training latents; others use N(0, 1) divided by the config's scaling factor."""
        count = check_int("count", count, 1, MAX_SAMPLES)
        seed = check_seed(seed, count)
        loaded, lock = self.load(model_id)
        config = loaded.model.config
        size = loaded.fixed_size or min(int(getattr(config, "sample_size", 512) or 512), MAX_SIDE)
        shape = (count, config.latent_channels, size // loaded.multiple, size // loaded.multiple)
        noise = seeded_noise(shape, seed)
        if loaded.latent_mean is not None and loaded.latent_std is not None:
            z = loaded.latent_mean[None, :, None, None] + loaded.latent_std[None, :, None, None] * noise
        else:
            z = noise / float(getattr(config, "scaling_factor", 1.0) or 1.0)
        with lock, torch.inference_mode():
            # One at a time: batched convolutions round differently, and "reuse settings" must
            # re-make image i bit for bit from seed + i alone.
            images = [tensor_to_pil(decode(loaded.model, self._to_device(loaded, row[None])))[0] for row in z]
        return [
            Sample(img, self.recipe(loaded, "sample", {"size": f"{size}x{size}", "index": i}, seed + i))
            for i, img in enumerate(images)
        ]

    def describe(self, model_id: str) -> str:
        """A line for the UI about what happens to an uploaded image with this model."""
        try:
            loaded, _ = self.load(model_id)
        except (InputError, ModelUnavailable) as error:
            return f"⚠️ {error}"
        return loaded.policy
