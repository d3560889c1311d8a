"""Edit engine: inpaint and denoise an image with a diffusers pipeline.

The bundled inpainting model (emoji-inpaint, the default) is the text model's UNet fine-tuned to
see the mask and the image around it (training/train_inpaint.py), as SD 2 inpainting and SDXL
inpainting are: its folder holds that UNet alone, and the text model's VAE, MiniLM and scheduler
(already in memory for the text tab) complete the pipeline. The text model itself (emoji-ldm, a
4-channel UNet) inpaints too, the way diffusers' StableDiffusionInpaintPipeline runs such a UNet:
each step, the latent outside the mask is the image's own latent noised to that step, so only the
masked part is drawn anew. Hub inpainting pipelines load through the same
`AutoPipelineForInpainting` and the same call.

The mask contract: the result is the image's own pixels outside the mask and, with the soft edge,
a thin band around it (the blend band, where the fill fades into the image); the band's width is
recorded in the recipe (0 for the seamless edge). Pixels farther out are the input's, bit for bit.

The edge: a fill drawn by the model rarely meets the image in exactly its colours (the model sees
the image through its VAE's latent, 4 px to a cell), and a fade leaves that mismatch as a halo.
The seamless edge (the default) clones the fill in as Poisson image editing does (Pérez, Gangnet
and Blake, 2003): inside the mask the result has the fill's own detail (its Laplacian), and at
the mask's edge it takes the image's pixels, so the fill's colours are pulled to meet them. On
the 698 held-out emoji this took the inpainted images' Fréchet distance from 4.08 to 2.54
(benchmarks/edit_quality.py measures both edges).

Sizes: the pipeline works at its model's size (64 px for the emoji model), on the image padded
to a square with white (as the training art is); the fill is resized back to the image's own size
and blended there, so an image of any size (up to MAX_EDIT_SIDE) keeps its pixels and framing.

Denoise: the bundled denoising network (checkpoints/emoji-denoise, training/train_denoise.py; it
runs at the image's own size), the VAE's reconstruction (encode, then decode the posterior's mean),
or a low-strength diffusion pass from the noisy image (image-to-image: the inpainting pipeline with
the whole image masked). Which cleans best is measured in benchmarks/edit_quality.py, not assumed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter
from scipy import ndimage, sparse
from scipy.sparse.linalg import factorized

from engines.base import Engine, Loaded, Result, pil_batch, tensor_batch, weights_hash
from engines.errors import InputError, ModelUnavailable
from engines.imaging import from_square, load_image, open_image, to_square
from engines.limits import DENOISERS, EDGES, EDIT_NOISES, MAX_EDIT_SIDE, check_float, check_seed
from engines.metrics import psnr, ssim
from engines.registry import ModelSpec
from engines.text import (
    LoadedPipeline,
    Progress,
    check_draw,
    load_from_text_pipeline,
    load_pipeline,
    run_draw,
    sampler_name,
    scheduler_for,
)

MAX_DENOISE_STRENGTH = 0.6  # above it, a "denoised" image is a new one


def load_mask(source: Any, size: tuple[int, int]) -> Image.Image:
    """A mask as sent (a file path or an image): white (or opaque, for an image with transparency)
    is what to repaint -> a binary 'L' image of `size`, or InputError."""
    if source is None or (isinstance(source, str) and not source):
        raise InputError("paint over the part to change (or send a mask image: white where to repaint)")
    mask = source if isinstance(source, Image.Image) else open_image(source)  # its header: size, pixels
    if mask.size != size:
        raise InputError(
            f"the mask is {mask.width}×{mask.height} px but the image is {size[0]}×{size[1]}: they must match"
        )
    try:
        mask.load()  # decoded only once its size is known to match
    except (OSError, ValueError, SyntaxError) as error:
        raise InputError(f"the mask file is damaged or truncated and cannot be decoded ({error})") from None
    if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        alpha = np.asarray(mask.convert("RGBA"))[..., 3]
        painted = alpha > 127 if alpha.min() < 255 else np.asarray(mask.convert("L")) > 127
    else:
        painted = np.asarray(mask.convert("L")) > 127
    if not painted.any():
        raise InputError("the mask is empty: paint over the part to change (white where to repaint)")
    return Image.fromarray(painted.astype(np.uint8) * 255, "L")


def blend_band(side: int) -> int:
    """Pixels the fill fades over outside the mask: 2 at 64 px, more for bigger images."""
    return max(1, round(side / 32))


def soft_mask(mask: Image.Image, band: int) -> np.ndarray:
    """[H, W] weights of the fill: 1 on the mask, fading to 0 across `band` pixels outside it, and
    exactly 0 beyond (so those pixels stay the image's own, bit for bit)."""
    grown = mask.filter(ImageFilter.MaxFilter(2 * band + 1))
    soft = np.asarray(grown.filter(ImageFilter.GaussianBlur(band / 2)), dtype=np.float32) / 255
    inside, reach = np.asarray(mask) > 0, np.asarray(grown) > 0
    return np.where(inside, 1.0, np.where(reach, soft, 0.0))


def blend(image: Image.Image, fill: Image.Image, weights: np.ndarray) -> Image.Image:
    """The image with the fill where `weights` say; weight 0 keeps the image's pixel exactly."""
    a, b = np.asarray(image, dtype=np.float32), np.asarray(fill.convert("RGB"), dtype=np.float32)
    w = weights[..., None]
    out = np.where(w > 0, a * (1 - w) + b * w, a)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


# above this side the seamless edge is solved at it first, then exactly in a ring at the mask's
# edge: the whole mask of a 1024 px image at once is 1M unknowns (13 s and 2.8 GB to solve)
SEAMLESS_SIDE = 256


def poisson(region: np.ndarray, bases: list[np.ndarray], guides: list[np.ndarray]) -> list[np.ndarray]:
    """For each (base, guide) pair of [H, W, 3] float arrays: the base with the pixels in `region`
    ([H, W] bool) solved to have the guide's Laplacian, given the base's pixels around the region
    (its Dirichlet edge; the image's own border is free). One factorisation serves every pair."""
    height, width = region.shape
    ys, xs = np.nonzero(region)
    n = ys.size
    index = np.full(region.shape, -1)
    index[ys, xs] = np.arange(n)
    degree = np.zeros(n)
    links, rows, cols = [], [], []
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        k, ny, nx = np.flatnonzero(inside), ny[inside], nx[inside]
        degree[k] += 1
        j = index[ny, nx]
        solved = j >= 0
        rows.append(k[solved])
        cols.append(j[solved])
        links.append((k, ny, nx, ~solved))
    rows, cols = np.concatenate([*rows, np.arange(n)]), np.concatenate([*cols, np.arange(n)])
    values = np.concatenate([-np.ones(rows.size - n), degree])
    solve = factorized(sparse.csc_matrix((values, (rows, cols)), shape=(n, n)))
    solved = []
    for base, guide in zip(bases, guides, strict=True):
        rhs = np.zeros((n, 3))
        for k, ny, nx, edge in links:  # k has each unknown at most once per direction
            rhs[k] += guide[ys[k], xs[k]] - guide[ny, nx]
            rhs[k[edge]] += base[ny[edge], nx[edge]]
        out = base.copy()
        out[ys, xs] = np.stack([solve(rhs[:, c]) for c in range(3)], 1)
        solved.append(out)
    return solved


def seamless(image: Image.Image, fills: list[Image.Image], mask: Image.Image) -> list[Image.Image]:
    """Each fill cloned into the image's mask (Poisson image editing): the fill's detail inside, the
    image's pixels at the edge, every pixel outside the mask the image's own."""
    inside = np.asarray(mask) > 0
    fills = [fill.convert("RGB") for fill in fills]
    if inside.all():  # no edge to meet
        return fills
    pixels = np.asarray(image, dtype=np.float64)
    guides = [np.asarray(fill, dtype=np.float64) for fill in fills]
    if max(image.size) <= SEAMLESS_SIDE:
        cloned = poisson(inside, [pixels] * len(guides), guides)
    else:
        # the colour shift at SEAMLESS_SIDE, smooth enough to scale up; then the ring of pixels
        # near the edge solved exactly, so the edge meets the image's own pixels
        scale = SEAMLESS_SIDE / max(image.size)
        small = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small_inside = np.asarray(mask.resize(small, Image.Resampling.BOX)) > 127
        if small_inside.any() and not small_inside.all():
            small_pixels = np.asarray(image.resize(small, Image.Resampling.BOX), dtype=np.float64)
            small_fills = [np.asarray(f.resize(small, Image.Resampling.BOX), np.float64) for f in fills]
            shifted = poisson(small_inside, [small_pixels] * len(fills), small_fills)
            guides = [
                guide + upscaled(after - before, image.size)
                for guide, after, before in zip(guides, shifted, small_fills, strict=True)
            ]
        reach = 2 * math.ceil(1 / scale) + 1  # px: a few of the small image's pixels
        ring = inside & ~ndimage.binary_erosion(inside, iterations=reach, border_value=1)
        cloned = poisson(ring, [np.where(inside[..., None], guide, pixels) for guide in guides], guides)
    return [Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB") for out in cloned]


def upscaled(shift: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A [h, w, 3] float array resized to `size` (W, H), bilinearly."""
    grid = torch.from_numpy(shift).permute(2, 0, 1)[None]
    return torch.nn.functional.interpolate(grid, size=(size[1], size[0]), mode="bilinear")[0].permute(1, 2, 0).numpy()


def check_edit_image(source: Any) -> Image.Image:
    image = load_image(source)
    if max(image.size) > MAX_EDIT_SIDE:
        raise InputError(
            f"the image is {image.width}×{image.height}; the Edit tab takes images up to {MAX_EDIT_SIDE} px a side"
        )
    return image


def add_noise(image: Image.Image, kind: str, amount: float, seed: int) -> Image.Image:
    """The image with seeded noise of a kind (gaussian: σ = amount/2 of the full range; jpeg: quality
    95 - 90 × amount; salt & pepper: amount/2 of the pixels set black or white)."""
    if kind == "jpeg":
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=max(1, round(95 - 90 * amount)))
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, dtype=np.float32)
    if kind == "gaussian":
        pixels = pixels + rng.normal(0.0, 255 * amount / 2, pixels.shape)
    else:  # salt & pepper
        hit = rng.random(pixels.shape[:2]) < amount / 2
        pixels = pixels.copy()
        pixels[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0.0, 255.0)[:, None]
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def scores(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    """(PSNR dB, SSIM) of b against a."""
    x, y = (tensor_batch([im]).add(1).div(2) for im in (a, b))
    return round(float(psnr(x, y)[0]), 2), round(float(ssim(x, y)[0]), 4)


class EditEngine(Engine):
    task = "edit"

    def load_model(self, spec: ModelSpec) -> LoadedPipeline:
        if spec.settings.get("task") == "text":  # our text model: the text tab's modules, not a second copy
            return load_from_text_pipeline(self, spec, "AutoPipelineForInpainting")
        if spec.settings.get("base"):  # a UNet fine-tuned from a text model (emoji-inpaint): its other parts
            base = self.registry.resolve("text", spec.settings["base"])  # the registry checked it is there
            return load_from_text_pipeline(self, base, "AutoPipelineForInpainting", fine_tune=spec)
        return load_pipeline(spec, self.runtime, "AutoPipelineForInpainting")  # a hub inpainting model

    def draw(
        self,
        image: Any,
        mask: Any,
        prompt: Any,
        negative_prompt: Any,
        seed: Any,
        count: Any,
        steps: Any,
        guidance_scale: Any,
        scheduler: Any,
        model_id: str,
        edge: Any = "seamless",
        on_step: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        """Inpaint: `count` fills of the mask (white: repaint) of an image (image i from seed + i),
        put into the image with an `edge` (EDGES); [] if `stop` was set before the last step.
        (`draw`: the Edit tab's step-by-step diffusion draw, watched and stopped as the text tab's is.)"""
        original = check_edit_image(image)
        painted = load_mask(mask, original.size)
        if edge not in EDGES:
            raise InputError(f"the edge is one of {', '.join(EDGES)}, not {str(edge)[:40]!r}")
        prompt, negative, seed, count, steps, guidance, scheduler = check_draw(
            prompt, negative_prompt, seed, count, steps, guidance_scale, scheduler
        )
        loaded, lock = self.load(model_id)
        side = loaded.defaults["image_size"]
        band = blend_band(max(original.size))
        weights = soft_mask(painted, band)
        square, box = to_square(original, side)
        # the pipeline repaints the blend band too: the soft edge fades the fill in over it, and the
        # seamless edge reads the fill's detail across the mask's edge
        grown = Image.fromarray((weights > 0).astype(np.uint8) * 255, "L")
        square_mask, _ = to_square(grown, side, fill=0)
        pipe = loaded.model
        with lock, torch.inference_mode():
            pipe.scheduler = scheduler_for(loaded, scheduler)
            images = run_draw(
                pipe, prompt, negative, seed, count, steps, guidance, on_step, stop,
                # one copy per image: the pipeline encodes image i with generator i, so image i's
                # generator is used the same way in a batch and alone (seed + i re-makes image i)
                image=[square] * count, mask_image=[square_mask] * count, strength=1.0, height=side, width=side,
            )  # fmt: skip
        if images is None:
            return []
        fills = [from_square(fill, box, original.size) for fill in images]
        if edge == "seamless":
            edited, band = seamless(original, fills, painted), 0
        else:
            edited = [blend(original, fill, weights) for fill in fills]
        params = {
            "batch_seed": seed,
            "count": count,
            "steps": steps,
            "guidance_scale": guidance,
            "scheduler": scheduler,
            "sampler": sampler_name(pipe.scheduler),
            "size": f"{original.width}x{original.height}",
            "edge": edge,
            "blend_band": band,
            "masked": round(float((np.asarray(painted) > 0).mean()), 4),
        }
        inputs = {"image": original, "mask": painted}
        return [
            Result(
                image,
                self.recipe(
                    loaded, "inpaint", {**params, "index": i}, seed + i, prompt=prompt, negative_prompt=negative
                ),
                inputs,
            )
            for i, image in enumerate(edited)
        ]

    def denoise(
        self, image: Any, noise: Any, amount: Any, seed: Any, denoiser: Any, strength: Any, model_id: str
    ) -> dict[str, Any]:
        """Clean an image: the image as given (noise "none"), or with seeded noise of a kind and amount
        added first, so that the clean original is known and the scores compare with it.
        Returns {"noisy", "result" (a Result), "scores": {"noisy": (psnr, ssim), "cleaned": ...} or {}}."""
        original = check_edit_image(image)
        if noise not in EDIT_NOISES:
            raise InputError(f"noise is one of {', '.join(EDIT_NOISES)}, not {str(noise)[:40]!r}")
        if denoiser not in DENOISERS:
            raise InputError(f"denoise with one of {', '.join(DENOISERS)}, not {str(denoiser)[:40]!r}")
        amount = check_float("noise amount", amount, 0.0, 1.0)
        seed = check_seed(seed)
        strength = check_float("strength", strength, 0.05, MAX_DENOISE_STRENGTH)
        noisy = original if noise == "none" else add_noise(original, noise, amount, seed)
        params = {"noise": noise, "amount": amount, "denoiser": denoiser, "size": f"{noisy.width}x{noisy.height}"}
        if denoiser == "network":
            params["edit_model"] = model_id  # what the tab had chosen (the network needs none): reuse keeps it
            loaded, lock = self.denoiser()
            with lock, torch.inference_mode():
                x = tensor_batch([noisy]).to(self.runtime.device, loaded.dtype)
                cleaned = pil_batch(loaded.model(x))[0]
        else:
            loaded, lock = self.load(model_id)
            square, box = to_square(noisy, loaded.defaults["image_size"])
            with lock, torch.inference_mode():
                if denoiser == "vae":
                    cleaned_square = self.reconstruct(loaded, square)
                else:
                    cleaned_square = self.refine(loaded, square, strength, seed)
                    params["strength"] = strength
            cleaned = from_square(cleaned_square, box, noisy.size)
        recipe = self.recipe(loaded, "denoise", params, seed)
        measured = {}
        if noise != "none":
            measured = {"noisy": scores(original, noisy), "cleaned": scores(original, cleaned)}
            recipe["metrics"] = {"psnr": measured["cleaned"][0], "ssim": measured["cleaned"][1]}
        return {"noisy": noisy, "result": Result(cleaned, recipe, {"image": original}), "scores": measured}

    def denoiser(self) -> tuple[Loaded, threading.Lock]:
        """The bundled denoising network (the first "denoise" checkpoint), loaded once."""
        spec = next(iter(self.registry.bundled("denoise")), None)
        if spec is None:
            raise ModelUnavailable("no denoising network is installed (checkpoints/emoji-denoise): use vae")

        def load() -> Loaded:
            from engines.nets.upscale import Upscaler

            net = Upscaler.from_pretrained(spec.location).eval().requires_grad_(False)
            return Loaded(net.to(self.runtime.device, self.runtime.dtype), spec, self.runtime.dtype, weights_hash(spec))

        entry = self.cache.get(self.cache_key(spec), load)  # its own id, beside the Edit models
        return entry.model, entry.lock

    def reconstruct(self, loaded: LoadedPipeline, image: Image.Image) -> Image.Image:
        """The image through the pipeline's VAE (engines/vae.py's encode and decode)."""
        from engines.vae import decode, encode

        vae = loaded.model.vae
        x = tensor_batch([image]).to(self.runtime.device, vae.dtype)
        return pil_batch(decode(vae, encode(vae, x)))[0]

    def refine(self, loaded: LoadedPipeline, image: Image.Image, strength: float, seed: int) -> Image.Image:
        """A diffusion pass over the whole image from `strength` of the way (image-to-image), unprompted."""
        pipe = loaded.model
        pipe.scheduler = loaded.default_scheduler
        side = image.width
        everything = Image.new("L", image.size, 255)
        output = pipe(
            prompt="",
            image=image,
            mask_image=everything,
            strength=strength,
            num_inference_steps=max(loaded.defaults["steps"], math.ceil(1 / strength)),  # at least one step runs
            guidance_scale=0.0,
            height=side,
            width=side,
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="pil",
        )
        return output.images[0]
