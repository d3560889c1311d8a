"""The VAE engine on tiny random-weight models (every code path) and on the bundled emoji VAE (quality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engines import create_engines
from engines.errors import InputError, ModelUnavailable
from engines.registry import Registry
from engines.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_VAE = ROOT / "checkpoints" / "emoji-vae"


def test_reconstruct_fixed_size_model(engines, sample_png):
    result = engines.vae.reconstruct(str(sample_png), "tiny-vae")
    assert result.original.size == result.reconstruction.size == result.heatmap.size == (32, 32)
    assert 0 < result.psnr < 100 and -1 <= result.ssim <= 1
    recipe = result.recipe
    assert recipe["engine"] == "vae" and recipe["operation"] == "reconstruct" and recipe["model"] == "tiny-vae"
    assert len(recipe["model_hash"]) == 10 and recipe["device"] == "cpu" and recipe["dtype"] == "float32"
    assert recipe["versions"]["torch"] and recipe["metrics"]["psnr"] == round(result.psnr, 3)
    again = engines.vae.reconstruct(str(sample_png), "tiny-vae")
    assert np.array_equal(np.asarray(again.reconstruction), np.asarray(result.reconstruction))


def test_model_loads_once(engines, sample_png):
    engines.vae.reconstruct(str(sample_png), "tiny-vae")
    engines.vae.reconstruct(str(sample_png), "tiny-vae")
    assert len(engines.cache.keys()) == 1


def test_sample_seed_contract(engines):
    batch = engines.vae.sample(seed=10, count=3, model_id="tiny-vae")
    assert [s.recipe["seed"] for s in batch] == [10, 11, 12]
    alone = engines.vae.sample(seed=11, count=1, model_id="tiny-vae")[0]
    assert np.array_equal(np.asarray(alone.image), np.asarray(batch[1].image))
    assert not np.array_equal(np.asarray(batch[0].image), np.asarray(batch[1].image))


def test_interpolation_ends_at_the_reconstructions(engines, sample_png):
    other = Image.new("RGB", (40, 40), (30, 60, 200))
    result = engines.vae.interpolate(str(sample_png), other, 5, "tiny-vae")
    assert len(result.frames) == 5 and result.recipe["params"]["frames"] == 5
    first = engines.vae.reconstruct(str(sample_png), "tiny-vae").reconstruction
    assert np.abs(np.asarray(first, int) - np.asarray(result.frames[0], int)).max() <= 1


@pytest.mark.parametrize("frames", [1, 33, "many", float("nan")])
def test_bad_interpolation_frames(engines, sample_png, frames):
    with pytest.raises(InputError, match="frames"):
        engines.vae.interpolate(str(sample_png), str(sample_png), frames, "tiny-vae")


def test_hub_style_kl_keeps_aspect_and_tiles(engines, tiny_hub_vaes, monkeypatch):
    monkeypatch.setattr("engines.vae.MAX_SIDE", 128)
    wide = Image.new("RGB", (900, 300), (200, 100, 50))
    result = engines.vae.reconstruct(wide, str(tiny_hub_vaes["kl"]))
    assert result.original.size == (128, 42)  # long side to MAX_SIDE, sides even (2x downsampling)
    assert result.psnr > 0  # 128 px > the 32 px sample size: decoded in tiles
    assert "aspect ratio" in engines.vae.describe(str(tiny_hub_vaes["kl"]))


def test_autoencoder_tiny_through_the_same_engine(engines, tiny_hub_vaes):
    result = engines.vae.reconstruct(Image.new("RGB", (100, 70), "red"), str(tiny_hub_vaes["tiny"]))
    assert result.reconstruction.size == (96, 72)
    samples = engines.vae.sample(0, 2, str(tiny_hub_vaes["tiny"]))
    assert len(samples) == 2 and samples[0].image.size[0] % 8 == 0


def test_offline_hub_model_is_a_clear_error_and_others_keep_working(engines, sample_png):
    with pytest.raises(ModelUnavailable, match="unavailable: offline"):
        engines.vae.reconstruct(str(sample_png), "madebyollin/taesd")
    assert engines.vae.reconstruct(str(sample_png), "tiny-vae").psnr > 0


def test_broken_checkpoint_is_a_clear_error(engines, tmp_path, sample_png):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text('{"_class_name": "AutoencoderKL"}')
    with pytest.raises(ModelUnavailable, match="could not load"):
        engines.vae.reconstruct(str(sample_png), str(folder))
    (folder / "config.json").write_text('{"_class_name": "UNet2DModel"}')
    with pytest.raises(ModelUnavailable, match="not one of"):
        engines.vae.reconstruct(str(sample_png), str(folder) + "/")


@pytest.mark.skipif(not (BUNDLED_VAE / "atelier.json").exists(), reason="the bundled VAE is not exported yet")
def test_bundled_emoji_vae_reconstructs_held_out_art_well():
    """Real quality: held-out emoji (examples/) come back close to the original."""
    engines = create_engines(Registry(ROOT / "checkpoints"), Runtime(torch.device("cpu"), torch.float32))
    assert engines.registry.default("vae").id == "emoji-vae"
    scores = [engines.vae.reconstruct(str(p), "emoji-vae") for p in sorted((ROOT / "examples").glob("*.png"))]
    assert len(scores) >= 8
    assert np.mean([s.psnr for s in scores]) > 22 and np.mean([s.ssim for s in scores]) > 0.8
