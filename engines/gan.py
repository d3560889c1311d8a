"""GAN engine: sample a grid, make variations around one image, walk between two seeds, and with
a StyleGAN-family model mix the coarse styles of some seeds with the fine styles of others.

Latents follow the seed contract: image i of a grid is drawn from seed + i. Truncation ψ pulls
each image towards an average one: ψ = 1 is the untouched prior (most variety), smaller ψ trades
variety for typical, cleaner images, and ψ = 0 draws the single "average" image for every seed.
For a DCGAN the average is G(0), the image of the prior's mean: z ← ψ z. For a StyleGAN model it
is the image of w̄, the mean style its mapping network produces: w ← w̄ + ψ (w − w̄), which
StyleGAN found keeps images sharper than scaling z (w̄ is a real style; G(0) need not be).
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from engines.base import Engine, Loaded, Result, Strip, pil_batch, weights_hash
from engines.errors import InputError
from engines.limits import MAX_FRAMES, MAX_GRID, MAX_PSI, check_float, check_int, check_seed, check_seeds
from engines.registry import ModelSpec
from engines.runtime import Runtime, seeded_noise


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, row-wise: Gaussian latents live near a sphere, and a straight
    line between two of them passes through the low-norm middle where images wash out."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def styled(model: torch.nn.Module) -> bool:
    """Whether a generator is StyleGAN-family: it truncates in w space and can mix styles."""
    return hasattr(model, "synthesis")


def load_generator(spec: ModelSpec, runtime: Runtime) -> Loaded:
    from engines.nets.gan import Generator
    from engines.nets.style import StyleGenerator

    kind = StyleGenerator if spec.settings.get("arch") == "style" else Generator
    model = kind.from_pretrained(spec.location)  # safetensors + config.json, never a pickle
    model = model.to(runtime.device, runtime.dtype).eval().requires_grad_(False)
    return Loaded(model, spec, runtime.dtype, weights_hash(spec))


class GANEngine(Engine):
    task = "gan"

    def load_model(self, spec: ModelSpec) -> Loaded:
        return load_generator(spec, self.runtime)

    def generate(self, loaded: Loaded, z: torch.Tensor, psi: float) -> list[Image.Image]:
        """Images of latents, truncated by psi the model's way (in z for a DCGAN, in w for a StyleGAN)."""
        z = z.to(self.runtime.device, loaded.dtype)
        with torch.inference_mode():
            return pil_batch(loaded.model(z, psi=psi) if styled(loaded.model) else loaded.model(psi * z))

    def styles(self, loaded: Loaded, seeds: list[int], psi: float) -> torch.Tensor:
        """The seeds' truncated styles w [len(seeds), w_dim], each from its own seed's latent."""
        z = torch.cat([seeded_noise((1, loaded.model.z_dim), seed) for seed in seeds])
        with torch.inference_mode():
            return loaded.model.mapping(z.to(self.runtime.device, loaded.dtype), psi)

    def sample(self, seed: Any, count: Any, psi: Any, model_id: str) -> list[Result]:
        """A grid: image i from seed + i, truncated by psi."""
        count = check_int("grid size", count, 1, MAX_GRID)
        seed = check_seed(seed, count)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        z = seeded_noise((count, loaded.model.z_dim), seed)
        with lock:
            images = self.generate(loaded, z, psi)
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
            images = self.generate(loaded, z, psi)
        params = {"psi": psi, "strength": strength, "variation_seed": variation_seed, "count": count}
        return [
            Result(img, self.recipe(loaded, "variation", {**params, "index": i}, seed)) for i, img in enumerate(images)
        ]

    def interpolate(self, seed_a: Any, seed_b: Any, frames: Any, psi: Any, model_id: str) -> Strip:
        """A walk from seed A's image to seed B's, both ends included: spherical between the latents z
        of a DCGAN, straight between the styles w of a StyleGAN model (StyleGAN's w space is where
        straight lines stay among images the model draws well)."""
        frames = check_int("frames", frames, 2, MAX_FRAMES)
        seed_a, seed_b = check_seed(seed_a), check_seed(seed_b)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        z_dim = loaded.model.z_dim
        a, b = seeded_noise((1, z_dim), seed_a), seeded_noise((1, z_dim), seed_b)
        t = torch.linspace(0, 1, frames)[:, None]
        with lock:
            if styled(loaded.model):
                w = self.styles(loaded, [seed_a, seed_b], psi)
                images = self.synthesise(loaded, torch.lerp(w[:1], w[1:], t.to(w)))
            else:
                images = self.generate(loaded, slerp(a, b, t), psi)
        return Strip(
            images, self.recipe(loaded, "interpolate", {"seed_b": seed_b, "frames": frames, "psi": psi}, seed_a)
        )

    def synthesise(self, loaded: Loaded, w: torch.Tensor) -> list[Image.Image]:
        """Images of styles: w [N, w_dim] for every layer, or ws [N, layers, w_dim] one per layer."""
        ws = w if w.dim() == 3 else w[:, None].expand(-1, loaded.model.num_ws, -1)
        with torch.inference_mode():
            return pil_batch(loaded.model.synthesis(ws))

    def style_mix(
        self, row_seeds: Any, column_seeds: Any, crossover: Any, psi: Any, model_id: str
    ) -> list[list[Result]]:
        """StyleGAN's style mixing: one row per row seed, one column per column seed, each cell drawn
        with the row seed's styles in the layers before `crossover` (the coarse ones: pose, shape)
        and the column seed's from there on (the fine ones: colour, finish). Row 0 is the column
        seeds alone and column 0 the row seeds alone (a seed mixed with itself is its own image), so
        the grid is (rows + 1) × (columns + 1) with None in the corner."""
        loaded, lock = self.load(model_id)
        if not styled(loaded.model):
            raise InputError(f"{model_id} is a DCGAN: style mixing needs a StyleGAN-family model (its layers' styles)")
        rows, columns = (check_seeds(name, seeds) for name, seeds in (("row", row_seeds), ("column", column_seeds)))
        layers = loaded.model.num_ws
        crossover = check_int("crossover layer", crossover, 1, layers - 1)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        params = {"row_seeds": rows, "column_seeds": columns, "crossover": crossover, "psi": psi}
        with lock:
            w = self.styles(loaded, rows + columns, psi)
            coarse, fine = w[: len(rows)].repeat_interleave(len(columns), 0), w[len(rows) :].repeat(len(rows), 1)
            mixed = self.synthesise(loaded, loaded.model.mix(coarse, fine, crossover))
            alone = self.synthesise(loaded, w)

        def cell(image: Image.Image, row_seed: int, column_seed: int) -> Result:
            return Result(image, self.recipe(loaded, "style_mix", params | {"column_seed": column_seed}, row_seed))

        grid: list[list[Result | None]] = [[None] + [cell(alone[len(rows) + c], s, s) for c, s in enumerate(columns)]]
        for r, row_seed in enumerate(rows):
            mixes = mixed[r * len(columns) : (r + 1) * len(columns)]
            grid.append(
                [cell(alone[r], row_seed, row_seed)]
                + [cell(m, row_seed, c) for m, c in zip(mixes, columns, strict=True)]
            )
        return grid
