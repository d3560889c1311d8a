"""The inpainting fine-tune's trainer: the widened UNet starts as its text model, its inputs are made
as diffusers' inpainting pipeline makes them at sampling time, and a tiny run trains, resumes from
its compact state, exports, and shows up in the Edit tab's models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import save_tiny_text_pipeline
from tests.test_quality import write_fake_data_set


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return save_tiny_text_pipeline(tmp_path_factory.mktemp("base") / "checkpoints" / "tiny-ldm", bundled=True)


def test_random_masks_are_boxes_strokes_or_everything():
    from training.train_inpaint import WHOLE_IMAGE, random_masks

    masks = random_masks(np.random.default_rng(0), 400)
    covered = masks.mean((1, 2))
    assert masks.shape == (400, 64, 64) and masks.dtype == bool and covered.min() > 0
    assert abs((covered == 1).mean() - WHOLE_IMAGE) < 0.05
    assert covered.min() < 0.05 and np.median(covered[covered < 1]) < 0.5  # small holes as well as big ones


def test_the_widened_unet_starts_out_as_its_text_model(tiny_base):
    """Zero input weights for the mask and the masked image: whatever they hold, step 0 draws as before."""
    from diffusers import UNet2DConditionModel

    from training.train_inpaint import inpainting_unet

    unet = UNet2DConditionModel.from_pretrained(tiny_base / "unet").eval()
    wide = inpainting_unet(unet).eval()
    assert wide.config.in_channels == 9
    x, states = torch.randn(2, 4, 16, 16), torch.randn(2, 5, 384)
    extra = torch.randn(2, 5, 16, 16)
    with torch.no_grad():
        assert torch.allclose(wide(torch.cat([x, extra], 1), 10, states).sample, unet(x, 10, states).sample, atol=1e-5)


def test_the_trainers_mask_inputs_are_the_pipelines(tiny_base):
    """What the UNet is shown in training is what StableDiffusionInpaintPipeline gives it when it samples."""
    from diffusers import StableDiffusionPipeline

    from training.train_inpaint import inpainting_pipeline, inpainting_unet, random_masks, unet_inputs

    base = StableDiffusionPipeline.from_pretrained(tiny_base)
    pipe = inpainting_pipeline(base, inpainting_unet(base.unet))
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    hole = random_masks(np.random.default_rng(3), 1)[0]
    mask = pipe.mask_processor.preprocess(Image.fromarray(hole.astype(np.uint8) * 255, "L"), 64, 64)
    init = pipe.image_processor.preprocess(image, 64, 64)
    with torch.no_grad():
        want_mask, _ = pipe.prepare_mask_latents(
            mask, init * (mask < 0.5), 1, 64, 64, torch.float32, "cpu", None, False
        )
        want_latents = base.vae.encode(init * (mask < 0.5)).latent_dist.mode() * base.vae.config.scaling_factor
        got_mask, got_latents = unet_inputs(base.vae, init, torch.from_numpy(hole).float()[None, None])
    assert torch.equal(got_mask, want_mask) and torch.allclose(got_latents, want_latents, atol=1e-5)


@pytest.mark.slow
def test_a_tiny_fine_tune_trains_resumes_exports_and_inpaints(tiny_base, tmp_path, capsys):
    import shutil

    from engines import create_engines
    from engines.registry import Registry
    from engines.runtime import Runtime
    from training import train_inpaint

    write_fake_data_set(tmp_path / "data")
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(tiny_base, checkpoints / "tiny-ldm")
    out, compact = checkpoints / "tiny-inpaint", tmp_path / "resume" / "tiny-inpaint.pt"
    args = ["--base", str(checkpoints / "tiny-ldm"), "--data-dir", str(tmp_path / "data"), "--batch-size", "4"]
    args += ["--out", str(out), "--resume-state", str(compact)]
    train_inpaint.main([*args, "--run-dir", str(tmp_path / "run"), "--steps", "2"])
    assert compact.is_file() and json.loads((out / "training_metrics.json").read_text())["steps"] == 2
    # a new machine: no run folder, only the compact state kept in the repository
    train_inpaint.main([*args, "--run-dir", str(tmp_path / "new-run"), "--steps", "3"])
    assert "at step 2" in capsys.readouterr().out
    meta = json.loads((out / "training_metrics.json").read_text())
    assert meta["steps"] == 3 and meta["base"] == "tiny-ldm" and "--steps 3" in meta["command"]
    assert str(tmp_path) not in meta["command"]  # no folders of this machine in the card
    card = (out / "README.md").read_text()
    assert "samples.png" in card and (out / "samples.png").is_file() and "tiny-ldm" in card
    assert json.loads((out / "atelier.json").read_text())["base"] == "tiny-ldm"

    engines = create_engines(Registry(checkpoints), Runtime(torch.device("cpu"), torch.float32))
    assert engines.registry.default("edit").id == "tiny-inpaint"
    image = Image.fromarray(np.load(tmp_path / "data" / "emoji-64.npz")["images"][0])
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    first, again = (engines.edit.draw(image, mask, "a disc", "", 5, 1, 3, 3.0, "Euler", "tiny-inpaint") for _ in "ab")
    assert first[0].image.tobytes() == again[0].image.tobytes() and first[0].recipe["model"] == "tiny-inpaint"
