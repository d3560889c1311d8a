"""The ×4 upscaler's network and trainer: shapes, the degradations, a few steps resumed and exported,
and the compact state a run keeps in the repository for the next machine."""

from __future__ import annotations

import json

import pytest
import torch

from engines.nets.upscale import Upscaler
from tests.test_quality import write_fake_data_set


def test_the_network_enlarges_any_size_four_times_and_starts_near_bilinear():
    torch.manual_seed(0)
    model = Upscaler(channels=8, layers=2).eval()
    for size in ((32, 32), (64, 64), (20, 48)):
        x = torch.rand(2, 3, *size) * 2 - 1
        with torch.no_grad():
            y = model(x)
        assert y.shape == (2, 3, size[0] * 4, size[1] * 4)
    bilinear = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert (y - bilinear).abs().mean() < 0.5  # a residual over bilinear, not a picture from nothing


def test_degradations_keep_the_range_and_are_seeded():
    from training.train_upscale import degrade, gaussian_blur

    small = torch.rand(8, 3, 16, 16) * 2 - 1
    vae = small.flip(-1)
    a = degrade(small, vae, torch.Generator().manual_seed(1))
    b = degrade(small, vae, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.abs().max() <= 1 and not torch.equal(a, small)
    edge = torch.zeros(3, 9, 9)
    edge[:, :, 5:] = 1
    blurred = gaussian_blur(edge, 1.0)
    assert blurred.shape == edge.shape and 0 < blurred[0, 4, 4] < 1  # an edge softened, not moved
    assert torch.equal(gaussian_blur(edge, 0.1), edge)


@pytest.mark.slow
def test_tiny_run_trains_resumes_from_the_compact_state_and_exports(tmp_path):
    from training import train_upscale

    for size in (32, 64, 128, 256):
        write_fake_data_set(tmp_path / "data", count=24, size=size)
    state = tmp_path / "resume" / "tiny-upscale.pt"
    args = ["--data-dir", str(tmp_path / "data"), "--resume-state", str(state), "--out", str(tmp_path / "out")]
    args += ["--no-studio-grids"]  # those draw with the bundled models
    train_upscale.main([*args, "--run-dir", str(tmp_path / "run"), "--steps", "2"])
    assert torch.load(state, weights_only=True)["step"] == 2 and state.stat().st_size < 2_000_000
    # a new machine: no run folder, only the compact state from the repository
    train_upscale.main([*args, "--run-dir", str(tmp_path / "fresh-run"), "--steps", "3"])
    meta = json.loads((tmp_path / "out" / "training_metrics.json").read_text())
    assert meta["steps"] == 3 and "--run-dir" not in meta["command"]
    assert {"32to128_ours", "32to128_bicubic", "64to256_ours", "64to256_nearest"} <= set(meta["metrics"])
    assert (tmp_path / "out" / "heldout-32to128.png").is_file()
    assert json.loads((tmp_path / "out" / "atelier.json").read_text())["task"] == "upscale"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "held-out PSNR, 32→128" in card and "python -m training.train_upscale" in card
    model = Upscaler.from_pretrained(tmp_path / "out")
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 32, 32)
