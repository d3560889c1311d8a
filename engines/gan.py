"""GAN engine: sample a grid, make variations around one image, walk between two seeds.

Latents follow the seed contract: image i of a grid is drawn from seed + i. Truncation for a
Gaussian latent: z <- psi * z, i.e. each latent is pulled towards the mean of the prior
(the origin). psi = 1 is the untouched prior (most variety), smaller psi trades variety for
typical, cleaner images, and psi = 0 maps every seed to G(0): the single "average" image.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from engines.base import Engine, Loaded, Result, Strip, pil_batch, weights_hash
from engines.limits import MAX_FRAMES, MAX_GRID, MAX_PSI, check_float, check_int, check_seed
from engines.registry import ModelSpec
from engines.runtime import Runtime, seeded_noise


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, row-wise: Gaussian latents live near a sphere, and a straight
    line between two of them passes through the low-norm middle where images wash out."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def load_generator(spec: ModelSpec, runtime: Runtime) -> Loaded:
    from engines.nets.gan import Generator

    model = Generator.from_pretrained(spec.location)  # safetensors + config.json, never a pickle
    model = model.to(runtime.device, runtime.dtype).eval().requires_grad_(False)
    return Loaded(model, spec, runtime.dtype, weights_hash(spec))


class GANEngine(Engine):
    task = "gan"

    def load_model(self, spec: ModelSpec) -> Loaded:
        return load_generator(spec, self.runtime)

    def generate(self, loaded: Loaded, z: torch.Tensor) -> list[Image.Image]:
        with torch.inference_mode():
            return pil_batch(loaded.model(z.to(self.runtime.device, loaded.dtype)))

    def sample(self, seed: Any, count: Any, psi: Any, model_id: str) -> list[Result]:
        """A grid: image i from seed + i, truncated by psi."""
        count = check_int("grid size", count, 1, MAX_GRID)
        seed = check_seed(seed, count)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        z = psi * seeded_noise((count, loaded.model.z_dim), seed)
        with lock:
            images = self.generate(loaded, z)
        params = {"count": count, "batch_seed": seed, "psi": psi}
        return [
            Result(img, self.recipe(loaded, "sample", {**params, "index": i}, seed + i)) for i, img in enumerate(images)
        ]

    def variations(
        self, seed: Any, psi: Any, strength: Any, count: Any, variation_seed: Any, model_id: str
    ) -> list[Result]:
        """Neighbours of one image: its latent plus small seeded noise (strength = noise scale)."""
        count = check_int("variations", count, 1, MAX_GRID)
        seed = check_seed(seed)
        variation_seed = check_seed(variation_seed, count)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        strength = check_float("strength", strength, 0.0, 2.0)
        loaded, lock = self.load(model_id)
        z_dim = loaded.model.z_dim
        z = seeded_noise((1, z_dim), seed) + strength * seeded_noise((count, z_dim), variation_seed)
        with lock:
            images = self.generate(loaded, psi * z)
        params = {"psi": psi, "strength": strength, "variation_seed": variation_seed, "count": count}
        return [
            Result(img, self.recipe(loaded, "variation", {**params, "index": i}, seed)) for i, img in enumerate(images)
        ]

    def interpolate(self, seed_a: Any, seed_b: Any, frames: Any, psi: Any, model_id: str) -> Strip:
        """Spherical walk from seed A's latent to seed B's, both ends included."""
        frames = check_int("frames", frames, 2, MAX_FRAMES)
        seed_a, seed_b = check_seed(seed_a), check_seed(seed_b)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        z_dim = loaded.model.z_dim
        a, b = seeded_noise((1, z_dim), seed_a), seeded_noise((1, z_dim), seed_b)
        t = torch.linspace(0, 1, frames)[:, None]
        with lock:
            images = self.generate(loaded, psi * slerp(a, b, t))
        return Strip(
            images, self.recipe(loaded, "interpolate", {"seed_b": seed_b, "frames": frames, "psi": psi}, seed_a)
        )
