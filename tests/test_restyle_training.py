"""The Restyle trainer: its losses on a tiny model, a few steps on two folders of your own images,
resumed from the compact state a run keeps in the repository, exported where the tab finds it, and
the paired (pix2pix) reference on an emoji-style data set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from engines.nets.restyle import SetDiscriminator, SetReader, Translator
from tests.conftest import randomise_styles
from training.train_restyle import ImagePool, critic_loss, deepen, generator_losses, naming_loss, with_reader


def tiny_pair() -> tuple[Translator, SetDiscriminator]:
    torch.manual_seed(0)
    return Translator(("a", "b"), channels=4, blocks=1, resolution=16), SetDiscriminator(2, channels=4)


def test_a_translator_that_changes_nothing_has_no_cycle_or_identity_loss():
    model, critic = tiny_pair()
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    sets, targets = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 0])
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()  # output = input + 0: every translation is the image itself
    fake, losses = generator_losses(model, critic, x, sets, targets)
    assert torch.equal(fake, x) and losses["cycle"] == 0 and losses["identity"] == 0 and losses["adversarial"] > 0
    with torch.no_grad():
        model.head.bias.fill_(0.1)  # a change of 0.1 everywhere: the image does not come back
    _, losses = generator_losses(model, critic, x, sets, targets)
    assert losses["identity"].item() == pytest.approx(0.1) and losses["cycle"].item() == pytest.approx(0.2)
    _, paired = generator_losses(model, critic, x, sets, targets, truth=x.flip(0))
    assert set(paired) == {"adversarial", "set", "l1"} and losses["set"] > 0  # a set named by the critic too


def test_the_critic_loss_rewards_telling_real_from_translated():
    _, critic = tiny_pair()
    real, fake, sets = torch.rand(4, 3, 16, 16), torch.zeros(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    loss = critic_loss(critic, real, sets, fake, sets)
    loss.backward()
    assert loss > 0 and all(p.grad is not None for p in critic.parameters() if p.requires_grad)


def test_a_critic_gains_the_fake_class_from_a_state_without_it_and_learns_to_name_translations():
    _, critic = tiny_pair()
    wider = SetDiscriminator(2, channels=4, fake_class=True)
    wider.load_state_dict(critic.state_dict())  # a run resumed with --fake-class
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(wider.classify(x)[:, :2], critic.classify(x)) and (wider.classify(x)[:, 2] == 0).all()
    real, fake, sets = torch.rand(4, 3, 16, 16), torch.zeros(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    critic_loss(wider, real, sets, fake, sets).backward()
    assert wider.classifier.bias.grad[2] < 0  # a descent step makes "a translation" more likely


def test_a_blurring_critic_cannot_be_steered_by_stripes_one_pixel_wide():
    _, sharp = tiny_pair()
    blurring = SetDiscriminator(2, channels=4, blur=True)
    blurring.load_state_dict(sharp.state_dict())  # a run resumed with --critic-blur
    sharp.eval(), blurring.eval()
    even = torch.zeros(1, 3, 16, 16)
    even[:, :, ::2] = 1  # white stripes on the even rows, then the same one row down
    odd = even.roll(1, 2)
    with torch.no_grad():
        assert not torch.allclose(sharp.classify(even), sharp.classify(odd), atol=1e-4)
        assert torch.allclose(blurring.classify(even), blurring.classify(odd), atol=1e-6)
        assert torch.allclose(blurring(even, torch.tensor([1])), blurring(odd, torch.tensor([1])), atol=1e-6)


def test_the_exported_reader_names_sets_as_the_critic_does_and_leaves_the_critic_as_it_was():
    model, _ = tiny_pair()
    critic = SetDiscriminator(2, channels=4, fake_class=True, blur=True)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    for _ in range(3):  # a few training passes move the power iteration's vectors off their start
        critic(x, torch.tensor([0, 1, 0, 1]))
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    shipped = with_reader(model, critic)
    assert critic.training and all(torch.equal(v, critic.state_dict()[k]) for k, v in before.items())
    critic.eval()
    with torch.no_grad():
        assert torch.allclose(shipped.reader.classify(x), critic.classify(x)[:, :2], atol=1e-6)  # no fake class
        assert torch.equal(shipped(x, torch.tensor([1, 0, 1, 0])), model(x, torch.tensor([1, 0, 1, 0])))
    assert shipped._hub_mixin_config["reader_channels"] == 4 and shipped._hub_mixin_config["reader_blur"]


def test_a_set_classifier_of_its_own_steers_the_generator_and_learns_sets_and_translations():
    model, critic = tiny_pair()
    namer = SetReader(2, channels=4, blur=True, classes=3)  # two sets and "a translation"
    x, sets, targets = torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 0])
    fake, losses = generator_losses(model, critic, x, sets, targets, namer=namer)
    assert losses["set"].item() == pytest.approx(F.cross_entropy(namer.classify(fake), targets).item())
    _, by_critic = generator_losses(model, critic, x, sets, targets)
    assert by_critic["set"].item() != pytest.approx(losses["set"].item())
    naming_loss(namer, x, sets, fake).backward()
    assert namer.classifier.bias.grad[2] < 0 and model.head.weight.grad is None  # only the classifier learns
    namer.eval()
    with torch.no_grad():  # the shipped reader names the sets as the classifier does, without the fake class
        assert torch.allclose(with_reader(model, namer).reader.classify(x), namer.classify(x)[:, :2], atol=1e-6)


def test_a_deepened_translator_draws_about_what_the_shallower_one_drew_and_its_new_block_learns():
    shallow, _ = tiny_pair()
    randomise_styles(shallow)
    deeper = Translator(("a", "b"), channels=4, blocks=3, resolution=16)
    deepen(deeper, shallow)
    x, sets = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([0, 1])
    assert torch.allclose(deeper(x, sets), shallow(x, sets), atol=0.05)  # the new block barely heard
    assert not torch.allclose(deeper(x, sets), shallow(x, sets), atol=1e-6)
    deeper(x, sets).square().mean().backward()
    new = deeper.blocks[2]
    assert new.norm2.scale.grad.abs().sum() > 0 and new.conv2.weight.grad.abs().sum() > 0  # all of it learns
    silent = Translator(("a", "b"), channels=4, blocks=3, resolution=16)
    deepen(silent, shallow, scale=0.0)  # SkipInit's exact identity: its convolutions would learn nothing
    assert torch.allclose(silent(x, sets), shallow(x, sets), atol=1e-6)
    silent(x, sets).square().mean().backward()
    assert silent.blocks[2].conv2.weight.grad.abs().sum() == 0


def test_the_image_pool_mixes_in_older_translations_seeded():
    images = [torch.full((3, 3, 2, 2), float(i)) for i in range(4)]
    out = []
    for seed in (1, 1):
        pool = ImagePool(3, torch.Generator().manual_seed(seed))
        out.append([pool.swap(batch, torch.tensor([0, 1, 0]))[0] for batch in images])
    assert torch.equal(out[0][0], images[0])  # not full yet: the batch as it is
    assert all(torch.equal(a, b) for a, b in zip(out[0], out[1], strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(out[0][1:], images[1:], strict=True))  # older ones came back


def write_folder(folder: Path, shape: str, count: int = 6) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        image = Image.new("RGB", (40, 40), "white")
        draw = ImageDraw.Draw(image)
        box, colour = (8 + i, 8, 32, 32 - i), (40 * i, 120, 200)
        (draw.ellipse if shape == "disc" else draw.rectangle)(box, fill=colour)
        image.save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image: skipped")
    return folder


@pytest.mark.slow
def test_two_folders_train_resume_from_the_compact_state_and_appear_in_the_tab(tmp_path):
    from engines import create_engines
    from engines.registry import Registry
    from engines.runtime import Runtime
    from training import train_restyle

    a, b = write_folder(tmp_path / "discs", "disc"), write_folder(tmp_path / "squares", "square")
    state = tmp_path / "resume" / "discs-squares.pt"
    out = tmp_path / "checkpoints" / "discs-squares"
    args = ["--data", str(a), str(b), "--name", "discs-squares", "--channels", "4", "--blocks", "1"]
    args += ["--resume-state", str(state), "--out", str(out), "--keep-white", "--set-weight", "3"]
    train_restyle.main([*args, "--run-dir", str(tmp_path / "run"), "--steps", "2"])
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 2 and {"generator", "ema", "critic"} <= set(saved) and state.stat().st_size < 1_000_000
    assert all(v.dtype == torch.float16 for v in saved["ema"].values() if v.is_floating_point())
    # a new machine: no run folder, only the compact state from the repository
    train_restyle.main([*args, "--run-dir", str(tmp_path / "fresh-run"), "--steps", "3"])
    meta = json.loads((out / "training_metrics.json").read_text())
    settings = json.loads((out / "atelier.json").read_text())
    assert meta["steps"] == 3 and "--run-dir" not in meta["command"]
    assert settings["task"] == "restyle" and settings["sets"] == [["discs", "discs"], ["squares", "squares"]]
    card = (out / "README.md").read_text()
    assert "discs" in card and "unpaired" in card and "stays white" in card and (out / "heldout.png").is_file()
    assert "the critic's set classifier" in card and "M parameters: 4 channels, 1 residual blocks" in card
    assert meta["recipe"]["set_weight"] == 3 and "set classification (weight 3:" in card
    # the same run resumed with the critic's fake class and blur: its classifier gains a row, Adam new moments for it
    train_restyle.main([*args, "--run-dir", str(tmp_path / "run"), "--steps", "4", "--fake-class", "--critic-blur"])
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 4 and saved["critic"]["classifier.weight"].shape[0] == 3
    recipe = json.loads((out / "training_metrics.json").read_text())["recipe"]
    card = (out / "README.md").read_text()
    assert recipe["fake_class"] and recipe["critic_blur"] and "a class of its own for translations" in card
    assert "blurs before each stride-2 convolution" in card
    # a new machine starts a wider critic beside the kept generator, which stays still while it warms up
    kept = torch.load(state, weights_only=True)
    wider = ["--new-critic", "--critic-channels", "6", "--critic-warmup", "1", "--fake-class", "--critic-blur"]
    note = ["--card-note", "Its critic was started again at 6 channels."]
    train_restyle.main([*args, "--run-dir", str(tmp_path / "wider"), "--steps", "5", *wider, *note])
    saved = torch.load(state, weights_only=True)
    assert saved["critic"]["classifier.weight"].shape == (3, 24)  # 4 × 6 features, two sets and "a translation"
    assert all(torch.equal(kept[net][k], saved[net][k]) for net in ("generator", "ema") for k in kept[net])
    card = (out / "README.md").read_text()
    assert "The critic is 6 channels wide (the generator 4)" in card and card.count("started again at 6") == 1
    with pytest.raises(SystemExit):
        train_restyle.main([*args, "--run-dir", str(tmp_path / "wider"), "--steps", "6", "--critic-warmup", "2"])
    # a new machine gains a set classifier of its own, which warms up while the generator stays still
    kept = torch.load(state, weights_only=True)
    own = ["--set-classifier", "5", "--fake-class", "--critic-blur", "--critic-channels", "6"]
    train_restyle.main([*args, "--run-dir", str(tmp_path / "named"), "--steps", "6", *own, "--critic-warmup", "1"])
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 6 and saved["classifier"]["classifier.weight"].shape == (3, 20)  # 4 × 5 features
    assert all(torch.equal(kept[net][k], saved[net][k]) for net in ("generator", "ema") for k in kept[net])
    card = (out / "README.md").read_text()
    assert "a set classifier of its own (5 channels wide" in card and "read by the run's set classifier" in card
    assert json.loads((out / "config.json").read_text())["reader_channels"] == 5  # the shipped reader is it
    train_restyle.main([*args, "--run-dir", str(tmp_path / "named"), "--steps", "7", *own])  # it resumes
    assert torch.load(state, weights_only=True)["step"] == 7
    # a new machine deepens the generator: its second block starts nearly silent beside the kept first
    deeper = list(args)
    deeper[deeper.index("--blocks") + 1] = "2"
    train_restyle.main([*deeper, "--run-dir", str(tmp_path / "deeper"), "--steps", "8", *own])
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 8 and "blocks.1.conv1.weight" in saved["generator"]
    assert "4 channels, 2 residual blocks" in (out / "README.md").read_text()

    engines = create_engines(Registry(tmp_path / "checkpoints"), Runtime(torch.device("cpu"), torch.float32))
    assert [spec.id for spec in engines.registry.models("restyle")] == ["discs-squares"]
    (made,) = engines.restyle.restyle(str(a / "0.png"), "squares", "discs-squares", source="discs")
    assert made.image.size == (64, 64) and made.recipe["params"]["target"] == "squares"
    model = engines.restyle.load("discs-squares")[0].model
    assert model.keep_white and model.reader is not None  # the recipe and the critic's classifier travel along
    (read,) = engines.restyle.restyle(str(a / "0.png"), "all", "discs-squares")  # its own set read by the reader
    x = torch.from_numpy(np.array(Image.open(a / "0.png").convert("RGB"))).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        expected = model.set_names[int(model.reader.classify(x).argmax())]
    assert read.recipe["params"]["source"] == expected and read.recipe["params"]["source_detected"]


def write_emoji_like_data(folder: Path, emoji: int = 24) -> None:
    """emoji-64.npz with every emoji in all four sets (a colour per set), a quarter of them held out."""
    from training.data import CATEGORIES, STYLES

    images, sets, codes = [], [], []
    for e in range(emoji):
        for s in range(4):
            image = Image.new("RGB", (64, 64), "white")
            ImageDraw.Draw(image).ellipse((8 + e % 8, 8, 56, 56 - e % 8), fill=(60 * s, 200 - 40 * s, 90))
            images.append(np.asarray(image))
            sets.append(s)
            codes.append(f"{e:04X}")
    count = len(images)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(
        folder / "emoji-64.npz", images=np.stack(images), style=np.array(sets), category=np.zeros(count, int),
        heldout=np.array([int(c, 16) % 4 == 0 for c in codes]), caption=np.array(["a disc"] * count),
        hexcode=np.array(codes), label=np.array(["a disc"] * count), style_names=np.array(STYLES),
        category_names=np.array(CATEGORIES),
    )  # fmt: skip


@pytest.mark.slow
def test_the_paired_reference_learns_from_true_targets_and_measures_itself(tmp_path):
    from training import train_restyle

    write_emoji_like_data(tmp_path / "data")
    out = tmp_path / "out"
    train_restyle.main([
        "--paired", "--data-dir", str(tmp_path / "data"), "--channels", "4", "--blocks", "1", "--steps", "2",
        "--run-dir", str(tmp_path / "run"), "--out", str(out), "--resume-state", str(tmp_path / "state.pt"),
    ])  # fmt: skip
    meta = json.loads((out / "training_metrics.json").read_text())
    assert meta["recipe"]["paired"] and set(meta["metrics"]) == {"PSNR to target, source", "PSNR to target, ours"}
    assert json.loads((out / "atelier.json").read_text())["paired"] and "pix2pix" in (out / "README.md").read_text()
    with pytest.raises(SystemExit, match="emoji set only"):
        train_restyle.main(["--paired", "--data", str(tmp_path), str(tmp_path)])
