"""The text model's training script: a few steps of a tiny UNet make a pipeline folder that
loads through the same diffusers code path as hub pipelines, and draws the same pixels per seed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_quality import write_fake_data_set

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_tiny_ldm_trains_resumes_exports_and_reloads(tmp_path, capsys):
    from diffusers import DiffusionPipeline

    from engines.registry import Registry
    from training import train_ldm

    write_fake_data_set(tmp_path / "data")
    out = tmp_path / "checkpoints" / "tiny-ldm"
    args = ["--channels", "32,32", "--layers", "1", "--batch-size", "8", "--data-dir", str(tmp_path / "data")]
    args += ["--run-dir", str(tmp_path / "run"), "--out", str(out)]
    train_ldm.main([*args, "--steps", "2", "--colour-variants", "0", "--offset-noise", "0"])
    printed = capsys.readouterr().out  # 72 training images; 6 captions: 2 plain, 4 naming their art set
    assert "encoding 72 images once" in printed and "encoding 6 captions once (0 already encoded)" in printed
    assert (tmp_path / "run" / "encoded.pt").is_file()
    # Resumed at step 2 with colour words: hue-shifted copies are encoded, and only the new captions.
    train_ldm.main([*args, "--steps", "3"])
    printed = capsys.readouterr().out
    copies = int(re.search(r"encoding (\d+) images", printed)[1]) - 72
    assert 72 <= copies <= 2 * 72 and "(6 already encoded)" in printed  # two per image that is not grey
    train_ldm.main([*args, "--steps", "4"])
    printed = capsys.readouterr().out
    assert "loaded the encoded images" in printed and "encoding" not in printed
    meta = json.loads((out / "training_metrics.json").read_text())
    assert meta["steps"] == 4 and meta["command"].endswith("--colour-variants 2 --offset-noise 0.1")
    assert meta["history"] == [
        {"from_step": 0, "to_step": 2, "colour_variants": 0, "offset_noise": 0.0},
        {"from_step": 2, "to_step": 4, "colour_variants": 2, "offset_noise": 0.1},
    ]
    card = (out / "README.md").read_text()
    assert "steps 0–2" in card and "no colour words, no offset noise" in card and "offset noise 0.1" in card
    (spec,) = Registry(tmp_path / "checkpoints").bundled("text")
    assert (out / "samples.png").is_file() and (out / "README.md").is_file()

    pipe = DiffusionPipeline.from_pretrained(spec.location, dtype=torch.float32)
    assert type(pipe).__name__ == "StableDiffusionPipeline" and pipe.tokenizer.model_max_length == 64
    pipe.set_progress_bar_config(disable=True)

    def draw(seed: int) -> np.ndarray:
        return np.asarray(pipe("a cat", num_inference_steps=3, generator=torch.Generator().manual_seed(seed)).images[0])

    first = draw(7)
    assert first.shape == (64, 64, 3) and np.array_equal(first, draw(7)) and not np.array_equal(first, draw(8))


def test_standardized_vae_decodes_the_same_with_unit_latents(tmp_path):
    """Folding per-channel standardisation into the VAE's 1x1 convs: latents become mean 0 / std 1
    per channel, and decoding them gives back what the original VAE decodes."""
    from diffusers import AutoencoderKL

    from tests.conftest import save_tiny_autoencoder_kl
    from training.train_ldm import encode_images, standardized_vae

    vae = AutoencoderKL.from_pretrained(save_tiny_autoencoder_kl(tmp_path / "vae", bundled=True)).eval()
    images = np.random.default_rng(0).integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    folded = standardized_vae(vae, images)
    latents = encode_images(folded, images)
    assert folded.config.scaling_factor == 1.0 and vae.config.scaling_factor != 1.0
    assert torch.allclose(latents.mean((0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(latents.std((0, 2, 3)), torch.ones(4), atol=1e-4)
    with torch.no_grad():
        original = vae.decode(encode_images(vae, images) / vae.config.scaling_factor).sample
        again = folded.decode(latents / folded.config.scaling_factor).sample
    assert torch.allclose(original, again, atol=1e-4)
