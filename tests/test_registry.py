"""The registry: checkpoint folders are found by their atelier.json; hub models say why they are unavailable."""

from __future__ import annotations

import json
import shutil

import pytest

from engines.errors import InputError
from engines.registry import Registry


def test_bundled_checkpoint_found_and_default(tiny_checkpoints):
    registry = Registry(tiny_checkpoints)
    ids = [m.id for m in registry.models("vae")]
    assert ids[0] == "tiny-vae" and registry.default("vae").id == "tiny-vae"
    assert [m.id for m in registry.models("gan")] == ["tiny-gan", "tiny-stylegan"] and [
        m.id for m in registry.bundled("text")
    ] == ["tiny-ldm"]


def test_new_checkpoint_appears_without_code_change(tiny_checkpoints, tmp_path):
    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints, root)
    shutil.copytree(root / "tiny-vae", root / "my-own-vae")
    (root / "my-own-vae" / "atelier.json").write_text(json.dumps({"task": "vae", "title": "mine", "image_size": 32}))
    assert "my-own-vae" in [m.id for m in Registry(root).models("vae")]


def test_hub_presets_offline_are_unavailable_with_reason(tiny_checkpoints):
    hub = [m for m in Registry(tiny_checkpoints).models("vae") if m.source == "hub"]
    assert {m.id for m in hub} == {"stabilityai/sd-vae-ft-mse", "madebyollin/taesd"}
    assert all(not m.available and "offline" in m.reason and "unavailable" in m.label for m in hub)


def test_resolve_local_folder_label_and_repo_id(tiny_checkpoints, tiny_hub_vaes):
    registry = Registry(tiny_checkpoints)
    assert registry.resolve("vae", str(tiny_hub_vaes["kl"])).source == "local"
    assert registry.resolve("vae", "tiny-vae — tiny test VAE").id == "tiny-vae"
    spec = registry.resolve("vae", "someone/some-vae")
    assert spec.source == "hub" and not spec.available


@pytest.mark.parametrize("bad", ["", None, "nope", "a/b/c", "../../etc", "x" * 5000, 12], ids=lambda b: repr(b)[:20])
def test_resolve_rejects_unknown_models(tiny_checkpoints, bad):
    with pytest.raises(InputError):
        Registry(tiny_checkpoints).resolve("vae", bad)


def test_a_folder_of_another_task_is_refused(tiny_checkpoints, tmp_path):
    folder = tmp_path / "gan"
    folder.mkdir()
    (folder / "atelier.json").write_text(json.dumps({"task": "gan"}))
    (folder / "config.json").write_text("{}")
    with pytest.raises(InputError, match="gan model"):
        Registry(tiny_checkpoints).resolve("vae", str(folder))


def test_preload_loads_every_tasks_default_model(engines):
    from engines import preload

    loaded = preload(engines)
    assert {"tiny-vae", "tiny-gan", "tiny-cgan", "tiny-ldm"} <= set(loaded)
    assert "facebook/DiT-XL-2-256" not in loaded  # unavailable offline: skipped, not fatal
    cached = engines.cache.keys()  # (model id, task, device, dtype)
    assert {key[0] for key in cached} >= {"tiny-vae", "tiny-gan", "tiny-cgan", "tiny-ldm"}
