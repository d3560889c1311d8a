"""VAE engine: reconstruct, interpolate and sample with any diffusers autoencoder.

Bundled emoji VAEs (checkpoints/*/atelier.json with task "vae"), hub VAEs
(stabilityai/sd-vae-ft-mse as AutoencoderKL, madebyollin/taesd as AutoencoderTiny) and local
folders all load through `load_autoencoder`.

Input policy: a model trained at a fixed size (atelier.json "image_size") gets the image
centre-cropped to a square and resized to that size. Other VAEs are fully convolutional and
work at the image's own aspect ratio, shrunk to a maximum side and tiled for large images.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engines.base import Engine, Loaded, Result, Strip, pil_batch, weights_hash
from engines.errors import InputError, ModelUnavailable
from engines.imaging import center_square, difference_heatmap, fit_multiple, load_image
from engines.limits import MAX_SAMPLES, MAX_VAE_FRAMES, check_int, check_seed
from engines.metrics import psnr, ssim
from engines.registry import ModelSpec
from engines.runtime import Runtime, seeded_noise

MAX_SIDE = int(os.environ.get("ATELIER_VAE_MAX_SIDE", "512"))  # hub VAEs: longest side processed
AUTOENCODER_CLASSES = ("AutoencoderKL", "AutoencoderTiny")


@dataclass
class LoadedVAE(Loaded):
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


def read_config(spec: ModelSpec) -> dict[str, Any]:
    if spec.source == "hub":
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(spec.location, "config.json")
    else:
        path = Path(spec.location) / "config.json"
        if not path.is_file():
            raise ModelUnavailable(f"{spec.id}: no config.json in {spec.location}")
    return json.loads(Path(path).read_text())


def load_autoencoder(spec: ModelSpec, runtime: Runtime) -> LoadedVAE:
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


class VAEEngine(Engine):
    task = "vae"

    def load_model(self, spec: ModelSpec) -> LoadedVAE:
        return load_autoencoder(spec, self.runtime)

    def prepare(self, loaded: LoadedVAE, source: Any) -> Image.Image:
        image = load_image(source)
        if loaded.fixed_size:
            return center_square(image, loaded.fixed_size)
        return fit_multiple(image, MAX_SIDE, loaded.multiple)

    def _to_device(self, loaded: LoadedVAE, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.runtime.device, loaded.dtype)

    def reconstruct(self, image: Any, model_id: str) -> Reconstruction:
        loaded, lock = self.load(model_id)
        original = self.prepare(loaded, image)
        with lock, torch.inference_mode():
            y = decode(loaded.model, encode(loaded.model, self._to_device(loaded, pil_to_tensor(original))))
        reconstruction = pil_batch(y)[0]
        a, b = (pil_to_tensor(im) for im in (original, reconstruction))  # scores on the saved 8-bit pixels
        a, b = (a + 1) / 2, (b + 1) / 2
        score_psnr, score_ssim = psnr(a, b).item(), ssim(a, b).item()
        params = {"size": f"{original.width}x{original.height}", "policy": "square" if loaded.fixed_size else "aspect"}
        metrics = {"psnr": round(score_psnr, 3), "ssim": round(score_ssim, 4)}
        recipe = self.recipe(loaded, "reconstruct", params, metrics=metrics)
        return Reconstruction(
            original, reconstruction, difference_heatmap(original, reconstruction), score_psnr, score_ssim, recipe
        )

    def interpolate(self, image_a: Any, image_b: Any, frames: Any, model_id: str) -> Strip:
        """A walk in latent space from image A to image B, both ends included."""
        frames = check_int("frames", frames, 2, MAX_VAE_FRAMES)
        loaded, lock = self.load(model_id)
        a = self.prepare(loaded, image_a)
        b = self.prepare(loaded, image_b).resize(a.size, Image.Resampling.LANCZOS)
        with lock, torch.inference_mode():
            z = encode(loaded.model, self._to_device(loaded, torch.cat([pil_to_tensor(a), pil_to_tensor(b)])))
            # Linear in latent space: VAE latents are not Gaussian-normalised like GAN noise, so slerp buys nothing.
            t = torch.linspace(0, 1, frames, device=z.device, dtype=z.dtype)[:, None, None, None]
            images = pil_batch(decode(loaded.model, z[:1] * (1 - t) + z[1:] * t))
        params = {"frames": frames, "size": f"{a.width}x{a.height}"}
        return Strip(images, self.recipe(loaded, "interpolate", params), inputs={"image_a": a, "image_b": b})

    def sample(self, seed: Any, count: Any, model_id: str) -> list[Result]:
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
            images = [pil_batch(decode(loaded.model, self._to_device(loaded, row[None])))[0] for row in z]
        return [
            Result(img, self.recipe(loaded, "sample", {"size": f"{size}x{size}", "index": i}, seed + i))
            for i, img in enumerate(images)
        ]

    def describe(self, model_id: str) -> str:
        """A line for the UI about what happens to an uploaded image with this model."""
        try:
            loaded, _ = self.load(model_id)
        except (InputError, ModelUnavailable) as error:
            return f"⚠️ {error}"
        return loaded.policy
