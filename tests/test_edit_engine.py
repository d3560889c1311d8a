"""The Edit engine: inpainting's mask contract (pixels away from the mask unchanged), seeds, sizes,
bad masks; denoising's noise and scores; a hub-style inpainting pipeline through the same call."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from engines.edit import blend_band, load_mask, seamless
from engines.errors import InputError


def emoji_like(size=(64, 64)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((4, 4, size[0] - 5, size[1] - 5), fill=(250, 200, 40), outline=(90, 60, 10))
    return image


def box_mask(size=(64, 64), box=(20, 20, 44, 44)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def inpaint(engines, image, mask, seed=3, count=2, model="tiny-ldm", **kw):
    return engines.edit.draw(image, mask, "a face", "", seed, count, 3, 3.0, "model default", model, **kw)


@pytest.mark.parametrize("model", ["tiny-ldm", "tiny-inpaint"])
@pytest.mark.parametrize("size", [(64, 64), (50, 37), (130, 96), (300, 280)])
@pytest.mark.parametrize("edge", ["seamless", "soft"])
def test_only_the_masked_part_changes_and_beyond_the_blend_band_pixels_are_the_images(engines, size, model, edge):
    image, mask = emoji_like(size), box_mask(size, (10, 8, size[0] // 2, size[1] // 2))
    made = inpaint(engines, image, mask, model=model, edge=edge)
    band = blend_band(max(size)) if edge == "soft" else 0  # seamless: nothing outside the mask changes
    grown = mask.filter(ImageFilter.MaxFilter(2 * band + 1)) if band else mask  # (a 1 px MaxFilter crashes PIL)
    untouched = np.asarray(grown) == 0
    for result in made:
        assert result.image.size == size
        a, b = np.asarray(image, dtype=int), np.asarray(result.image, dtype=int)
        assert np.abs(a - b)[untouched].max() == 0  # bit for bit
        assert np.abs(a - b)[np.asarray(mask) > 0].mean() > 1  # the fill is new
        assert result.recipe["params"]["blend_band"] == band and result.recipe["params"]["edge"] == edge
        assert set(result.inputs) == {"image", "mask"}


@pytest.mark.parametrize("size", [(64, 64), (50, 37), (700, 1024)])  # 700×1024: solved small, then at the edge
def test_the_seamless_edge_meets_the_images_colours(size):
    """A fill of the image's own detail in the wrong colours comes back as the image itself; a flat
    fill takes the colour of the image around it."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 200, (size[1], size[0], 3)).astype(np.uint8)
    image, mask = Image.fromarray(pixels), box_mask(size, (5, 3, size[0] * 2 // 3, size[1] * 3 // 4))
    shifted = Image.fromarray(pixels + np.array([50, 20, 0], np.uint8))
    assert seamless(image, [shifted], mask)[0].tobytes() == image.tobytes()
    red = Image.new("RGB", size, (200, 30, 30))
    flat = seamless(red, [Image.new("RGB", size, (20, 200, 20))], mask)[0]
    assert flat.tobytes() == red.tobytes()  # a flat fill in a flat image: no seam, no other colour
    assert seamless(image, [shifted], Image.new("L", size, 255))[0].tobytes() == shifted.tobytes()  # no edge


def test_an_unknown_edge_gets_a_clear_message(engines):
    for edge in ("poisson", None, ["seamless"]):
        with pytest.raises(InputError, match="the edge is one of seamless, soft"):
            inpaint(engines, emoji_like(), box_mask(), edge=edge)


@pytest.mark.parametrize("model", ["tiny-ldm", "tiny-inpaint"])
def test_inpainting_is_seeded_per_image(engines, model):
    image, mask = emoji_like(), box_mask()
    first = inpaint(engines, image, mask, seed=7, model=model)
    second = inpaint(engines, image, mask, seed=8, count=1, model=model)
    assert first[0].image.tobytes() != first[1].image.tobytes()
    assert first[1].image.tobytes() == second[0].image.tobytes()  # image i of a batch is seed + i alone
    assert [r.recipe["seed"] for r in first] == [7, 8] and first[0].recipe["operation"] == "inpaint"


def test_a_mask_from_transparency_and_bad_masks_get_clear_messages(engines, tmp_path):
    strokes = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(strokes).rectangle((5, 5, 20, 20), fill=(255, 0, 255, 255))
    assert np.asarray(load_mask(strokes, (64, 64))).sum() // 255 == 16 * 16  # painted pixels, not colours
    path = tmp_path / "strokes.png"
    strokes.save(path)
    assert np.array_equal(np.asarray(load_mask(str(path), (64, 64))), np.asarray(load_mask(strokes, (64, 64))))
    for mask, message in (
        (box_mask((32, 32)), "the mask is 32×32 px but the image is 64×64"),
        (Image.new("L", (64, 64), 0), "the mask is empty"),
        (None, "paint over the part to change"),
    ):
        with pytest.raises(InputError, match=message):
            inpaint(engines, emoji_like(), mask)
    with pytest.raises(InputError, match="up to 1024 px"):
        inpaint(engines, Image.new("RGB", (1100, 64)), box_mask((1100, 64)))


def test_stop_returns_nothing(engines):
    import threading

    stop = threading.Event()
    stop.set()
    assert inpaint(engines, emoji_like(), box_mask(), stop=stop) == []


def test_denoise_adds_seeded_noise_and_scores_against_the_original(engines):
    image = emoji_like()
    for noise in ("gaussian", "jpeg", "salt & pepper"):
        made = engines.edit.denoise(image, noise, 0.3, 5, "vae", 0.3, "tiny-ldm")
        again = engines.edit.denoise(image, noise, 0.3, 5, "vae", 0.3, "tiny-ldm")
        assert made["noisy"].tobytes() == again["noisy"].tobytes() != image.tobytes()
        assert made["result"].image.size == image.size
        assert set(made["scores"]) == {"noisy", "cleaned"} and made["result"].recipe["params"]["noise"] == noise
    network = engines.edit.denoise(image, "gaussian", 0.3, 5, "network", 0.3, "tiny-ldm")
    assert network["result"].recipe["model"] == "tiny-denoise" and network["result"].recipe["params"]["edit_model"]
    by_vae = engines.edit.denoise(image, "gaussian", 0.3, 5, "vae", 0.3, "tiny-ldm")
    assert network["noisy"].tobytes() == by_vae["noisy"].tobytes()  # the same noise, whichever denoiser
    as_is = engines.edit.denoise(image, "none", 0.3, 5, "diffusion", 0.2, "tiny-ldm")
    assert as_is["scores"] == {} and as_is["noisy"] is not None
    for args, message in (
        (("speckle", 0.3, 5, "vae", 0.3), "noise is one of"),
        (("gaussian", 2.0, 5, "vae", 0.3), "noise amount"),
        (("gaussian", 0.3, 5, "magic", 0.3), "denoise with one of"),
        (("gaussian", 0.3, 5, "diffusion", 0.9), "strength"),
    ):
        with pytest.raises(InputError, match=message):
            engines.edit.denoise(image, *args, "tiny-ldm")


def test_a_hub_style_inpainting_pipeline_runs_through_the_same_call(engines, tiny_inpainting_pipeline):
    """A UNet that sees the mask (9 channels, as SD 2 inpainting's): loaded by folder, same contract."""
    image, mask = emoji_like(), box_mask()
    made = inpaint(engines, image, mask, model=str(tiny_inpainting_pipeline))
    untouched = np.asarray(mask.filter(ImageFilter.MaxFilter(5))) == 0
    assert np.abs(np.asarray(image, dtype=int) - np.asarray(made[0].image, dtype=int))[untouched].max() == 0
    assert made[0].recipe["model_source"] == "local"


def test_the_text_model_inpaints_with_the_text_tabs_modules_not_a_second_copy(engines):
    inpainting, _ = engines.edit.load("tiny-ldm")
    text, _ = engines.text.load("tiny-ldm")
    assert inpainting.model.unet is text.model.unet and inpainting.model.vae is text.model.vae
    assert inpainting.model.scheduler is not text.model.scheduler  # a scheduler keeps state as it runs


def test_an_inpainting_fine_tune_uses_its_text_models_other_modules_and_sees_the_mask(engines):
    """tiny-inpaint holds a UNet alone; the VAE, text encoder and tokenizer are its base's (tiny-ldm),
    shared with the text tab, and its recipe's hash covers both. Its UNet reads the mask: the same
    image, prompt and seed with another mask give another fill inside the part both repaint."""
    inpainting, _ = engines.edit.load("tiny-inpaint")
    text, _ = engines.text.load("tiny-ldm")
    assert inpainting.model.unet.config.in_channels == 9 and inpainting.model.unet is not text.model.unet
    assert inpainting.model.vae is text.model.vae and inpainting.model.text_encoder is text.model.text_encoder
    assert inpainting.model.scheduler is not text.model.scheduler
    # the sampler its atelier.json names (the trainer writes Euler a) is its "model default"
    assert type(inpainting.model.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    made = inpaint(engines, emoji_like(), box_mask(), seed=4, count=1, model="tiny-inpaint")[0]
    assert made.recipe["model"] == "tiny-inpaint" and made.recipe["model_hash"].endswith("+" + text.model_hash)
    assert made.recipe["params"]["steps"] == 3
    wider = inpaint(engines, emoji_like(), box_mask(box=(12, 12, 52, 52)), seed=4, count=1, model="tiny-inpaint")[0]
    core = np.zeros((64, 64), bool)
    core[24:40, 24:40] = True
    a, b = np.asarray(made.image, dtype=int), np.asarray(wider.image, dtype=int)
    assert np.abs(a - b)[core].max() > 0


def test_an_inpainting_fine_tune_whose_text_model_is_missing_gets_a_message(tiny_checkpoints, tmp_path):
    import shutil

    import torch

    from engines import create_engines
    from engines.errors import ModelUnavailable
    from engines.registry import Registry
    from engines.runtime import Runtime

    shutil.copytree(tiny_checkpoints / "tiny-inpaint", tmp_path / "tiny-inpaint")  # without tiny-ldm beside it
    alone = create_engines(Registry(tmp_path), Runtime(torch.device("cpu"), torch.float32))
    (spec,) = alone.registry.bundled("edit")
    assert not spec.available and spec.reason == "it needs the text model tiny-ldm, not installed"
    assert getattr(alone.registry.default("edit"), "id", None) != "tiny-inpaint"  # never the default
    with pytest.raises(ModelUnavailable, match="needs the text model tiny-ldm"):
        alone.edit.load("tiny-inpaint")


def test_a_checkpoint_naming_an_unknown_scheduler_gets_a_message(tiny_checkpoints, tmp_path):
    import json
    import shutil

    from engines.registry import Registry

    for name in ("tiny-ldm", "tiny-inpaint"):
        shutil.copytree(tiny_checkpoints / name, tmp_path / name)
    settings = tmp_path / "tiny-inpaint" / "atelier.json"
    settings.write_text(json.dumps(json.loads(settings.read_text()) | {"scheduler": "LMS Karras"}))
    (spec,) = [s for s in Registry(tmp_path).bundled("edit") if s.id == "tiny-inpaint"]
    assert not spec.available and spec.reason.startswith("its atelier.json names the scheduler 'LMS Karras'")


def test_the_edit_tab_lists_the_fine_tune_first_then_the_text_model_and_the_hub_presets(engines):
    ids = [spec.id for spec in engines.registry.models("edit")]
    assert ids[:2] == ["tiny-inpaint", "tiny-ldm"] and "stabilityai/stable-diffusion-2-inpainting" in ids
    assert engines.registry.default("edit").id == "tiny-inpaint"
