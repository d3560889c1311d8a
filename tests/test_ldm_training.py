"""The text model's training script: a few steps of a tiny UNet make a pipeline folder that
loads through the same diffusers code path as hub pipelines, and draws the same pixels per seed."""

from __future__ import annotations

import json
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
    train_ldm.main([*args, "--steps", "2"])
    assert "encoding" in capsys.readouterr().out and (tmp_path / "run" / "encoded.pt").is_file()
    train_ldm.main([*args, "--steps", "3"])  # resumes at step 2, with the latents and captions encoded before
    assert "loaded the encoded images and captions" in capsys.readouterr().out
    assert json.loads((out / "training_metrics.json").read_text())["steps"] == 3
    (spec,) = Registry(tmp_path / "checkpoints").bundled("text")
    assert (out / "samples.png").is_file() and (out / "README.md").is_file()

    pipe = DiffusionPipeline.from_pretrained(spec.location, dtype=torch.float32)
    assert type(pipe).__name__ == "StableDiffusionPipeline" and pipe.tokenizer.model_max_length == 64
    pipe.set_progress_bar_config(disable=True)

    def draw(seed: int) -> np.ndarray:
        return np.asarray(pipe("a cat", num_inference_steps=3, generator=torch.Generator().manual_seed(seed)).images[0])

    first = draw(7)
    assert first.shape == (64, 64, 3) and np.array_equal(first, draw(7)) and not np.array_equal(first, draw(8))
