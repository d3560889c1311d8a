"""Resumable training state (training/run_state.py), and the VAE trainer resuming through it (the
GAN, feature and text trainers' resume tests live beside their engines)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_quality import write_fake_data_set
from training.run_state import load_compact, load_run, save_compact, save_run


def test_a_saved_run_resumes_exactly(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    parts = {"model": model, "optimizer": opt}
    assert load_run(tmp_path, parts, torch.device("cpu")) == (0, 0.0, {}, {"model", "optimizer"})  # all fresh
    save_run(tmp_path, {"model": model, "optimizer": opt}, 7, 12.5, history="[1]")
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # the temporary file was renamed over

    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    loaded = load_run(tmp_path, {"model": fresh, "optimizer": fresh_opt}, torch.device("cpu"))
    assert loaded == (7, 12.5, {"history": "[1]"}, set())
    assert torch.equal(fresh.weight, model.weight) and fresh_opt.state_dict()["state"][0]["step"] == 1


def test_a_run_missing_a_part_is_refused(tmp_path):
    model = torch.nn.Linear(3, 2)
    save_run(tmp_path, {"model": model}, 1, 1.0)
    with pytest.raises(KeyError):
        load_run(tmp_path, {"model": model, "ema": torch.nn.Linear(3, 2)}, torch.device("cpu"))


def test_a_part_the_run_gained_starts_afresh_and_is_reported(tmp_path):
    """A part named `new` that the saved state lacks keeps its fresh weights, in a run and in a compact state."""
    model, gained = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = gained.weight.clone()
    save_run(tmp_path, {"model": model}, 5, 2.0)
    save_compact(tmp_path / "compact.pt", {"model": model}, 5, 2.0, {"lr": 1})
    resumed = torch.nn.Linear(3, 2)
    parts = {"model": resumed, "gained": gained}
    assert load_run(tmp_path, parts, torch.device("cpu"), frozenset({"gained"})) == (5, 2.0, {}, {"gained"})
    assert torch.equal(resumed.weight, model.weight) and torch.equal(gained.weight, before)
    loaded = load_compact(tmp_path / "compact.pt", parts, torch.device("cpu"), frozenset({"model", "gained"}))
    assert loaded == (5, 2.0, {"lr": 1}, {"gained"})  # "model" may be missing too, but it is there
    assert torch.equal(resumed.weight, model.weight.half().float()) and torch.equal(gained.weight, before)


@pytest.mark.slow
def test_vae_training_resumes_and_exports(tmp_path):
    from training import train_vae

    write_fake_data_set(tmp_path / "data")
    out = tmp_path / "tiny-vae"
    args = ["--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run"), "--out", str(out)]
    train_vae.main([*args, "--steps", "1"])
    train_vae.main([*args, "--steps", "2"])  # resumes at step 1
    meta = json.loads((out / "training_metrics.json").read_text())
    assert meta["steps"] == 2 and (out / "reconstructions.png").is_file()
