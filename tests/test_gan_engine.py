"""The GAN: network shapes, the engine's seed contract and truncation, and the trainer end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engines import create_engines
from engines.errors import InputError
from engines.gan import slerp
from engines.nets.gan import Discriminator, Generator, diff_augment
from engines.registry import Registry
from engines.runtime import Runtime


def pixels(generated) -> np.ndarray:
    return np.stack([np.asarray(g.image, dtype=np.int16) for g in generated])


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_resolution_is_a_parameter(resolution):
    g, d = Generator(z_dim=8, resolution=resolution, base_channels=8), Discriminator(resolution, base_channels=8)
    images = g(torch.randn(2, 8))
    assert images.shape == (2, 3, resolution, resolution) and d(images).shape == (2,)
    with pytest.raises(ValueError):
        Generator(resolution=48)


def test_diff_augment_keeps_shape_and_gradients():
    x = torch.rand(8, 3, 32, 32, requires_grad=True)
    y = diff_augment(x)
    y.sum().backward()
    assert y.shape == x.shape and x.grad is not None and (y == 0).any()  # cutout zeroed something
    with pytest.raises(ValueError):
        diff_augment(x, "rotate")


def test_diff_augment_probability_applies_each_op_to_about_that_share_of_images():
    x = torch.rand(400, 3, 16, 16, requires_grad=True)
    assert torch.equal(diff_augment(x, "cutout", p=0.0), x)  # p = 0: untouched
    torch.manual_seed(0)
    y = diff_augment(x, "cutout", p=0.3)
    changed = (y != x).flatten(1).any(1)
    assert 0.22 < changed.float().mean() < 0.38
    assert torch.equal(y[~changed], x[~changed])  # the others are exactly the input
    y.sum().backward()
    assert x.grad is not None
    torch.manual_seed(1)
    full = diff_augment(x, "cutout", p=1.0)
    assert (full != x).flatten(1).any(1).all()  # p = 1: every image, as without p


def test_minibatch_std_tells_a_batch_of_one_image_from_a_varied_one():
    from engines.nets.gan import MinibatchStd

    same, varied = torch.randn(1, 5, 4, 4).expand(8, -1, -1, -1), torch.randn(8, 5, 4, 4)
    out = MinibatchStd()(same)
    assert out.shape == (8, 6, 4, 4) and torch.equal(out[:, :5], same) and out[:, 5].max() < 1e-3
    assert MinibatchStd()(varied)[:, 5].min() > 0.3  # each image's group of 4 differs
    assert MinibatchStd()(varied[:6]).shape == (6, 6, 4, 4)  # a batch that groups of 4 do not divide still works
    labelled = Discriminator(16, 8, label_sizes=(3,), minibatch_std=True)
    assert labelled(torch.randn(4, 3, 16, 16), torch.tensor([[0], [1], [2], [0]])).shape == (4,)


def test_adaptive_augmentation_moves_p_against_over_fitting():
    from training.train_gan import ADA_KIMG, adapt_augment_p

    step = 256 / (ADA_KIMG * 1000)  # 256 images seen since the last update
    assert adapt_augment_p(0.5, 0.9, 0.6, 256) == pytest.approx(0.5 + step)  # D sure of the reals: augment more
    assert adapt_augment_p(0.5, 0.1, 0.6, 256) == pytest.approx(0.5 - step)
    assert adapt_augment_p(0.5, 0.6, 0.6, 256) == 0.5
    assert adapt_augment_p(0.0, -1.0, 0.6, 256) == 0.0 and adapt_augment_p(1.0, 1.0, 0.6, 256) == 1.0


def test_lecam_pulls_each_side_towards_the_other_sides_moving_mean():
    from training.train_gan import LECAM_DECAY, lecam_penalty

    real, fake, anchors = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, -3.0]), []
    # the first batch sets the anchors: real scores (3 on average) are pulled to -2, fake ones to 3
    assert lecam_penalty(real, fake, anchors).item() == pytest.approx((16 + 36) / 2 + (16 + 36) / 2)
    assert anchors == [3.0, -2.0]
    real.requires_grad_(True)
    lecam_penalty(real, torch.tensor([-2.0, -2.0]), anchors).backward()
    assert anchors == pytest.approx([LECAM_DECAY * 3 + (1 - LECAM_DECAY) * 3, -2.0])
    assert (real.grad > 0).all()  # a real score above the fake anchor is pushed down


def test_same_seed_same_pixels_and_batch_rows_match_single_runs(engines):
    grid = engines.gan.sample(seed=7, count=4, psi=1.0, model_id="tiny-gan")
    again = engines.gan.sample(seed=7, count=4, psi=1.0, model_id="tiny-gan")
    assert np.array_equal(pixels(grid), pixels(again))
    assert [g.recipe["seed"] for g in grid] == [7, 8, 9, 10]
    for i in range(4):  # image i of a batch is the image of seed + i alone (up to float rounding)
        alone = engines.gan.sample(seed=7 + i, count=1, psi=1.0, model_id="tiny-gan")
        assert np.abs(pixels(alone)[0] - pixels(grid)[i]).max() <= 1


def test_seed_minus_one_draws_a_new_seed_each_run_and_the_recipe_keeps_it(engines):
    from engines.limits import MAX_SEED

    runs = [engines.gan.sample(seed=-1, count=4, psi=1.0, model_id="tiny-gan") for _ in range(2)]
    seeds = [run[0].recipe["seed"] for run in runs]
    assert seeds[0] != seeds[1] and all(0 <= s <= MAX_SEED - 3 for s in seeds)
    assert [r.recipe["seed"] for r in runs[0]] == [seeds[0] + i for i in range(4)]
    again = engines.gan.sample(seed=seeds[0], count=4, psi=1.0, model_id="tiny-gan")
    assert [r.image.tobytes() for r in again] == [r.image.tobytes() for r in runs[0]]


def test_truncation_psi_zero_is_the_average_image_for_every_seed(engines):
    grid = pixels(engines.gan.sample(seed=0, count=4, psi=0.0, model_id="tiny-gan"))
    assert (np.abs(grid - grid[0]).max(axis=(1, 2, 3)) <= 1).all()
    full = pixels(engines.gan.sample(seed=0, count=4, psi=1.0, model_id="tiny-gan"))
    half = pixels(engines.gan.sample(seed=0, count=4, psi=0.5, model_id="tiny-gan"))
    spread = lambda images: np.abs(images - images.mean(0)).mean()  # noqa: E731
    assert spread(half) < spread(full)  # lower psi, less variety


def test_variations_stay_near_their_image(engines):
    base = pixels(engines.gan.sample(seed=3, count=1, psi=1.0, model_id="tiny-gan"))[0]
    near = pixels(engines.gan.variations(3, 1.0, 0.05, 4, 100, "tiny-gan"))
    far = pixels(engines.gan.variations(3, 1.0, 1.0, 4, 100, "tiny-gan"))
    assert np.abs(near - base).mean() < np.abs(far - base).mean()
    zero = pixels(engines.gan.variations(3, 1.0, 0.0, 2, 100, "tiny-gan"))
    assert np.abs(zero - base).max() <= 1


def test_interpolation_ends_at_both_seeds(engines):
    walk = engines.gan.interpolate(5, 9, 6, 1.0, "tiny-gan")
    a = pixels(engines.gan.sample(5, 1, 1.0, "tiny-gan"))[0]
    b = pixels(engines.gan.sample(9, 1, 1.0, "tiny-gan"))[0]
    frames = np.stack([np.asarray(f, dtype=np.int16) for f in walk.frames])
    assert len(frames) == 6 and np.abs(frames[0] - a).max() <= 1 and np.abs(frames[-1] - b).max() <= 1
    assert walk.recipe["params"] == {"seed_b": 9, "frames": 6, "psi": 1.0}


def test_slerp_keeps_the_norm_of_equal_norm_latents():
    a, b = torch.randn(1, 64), torch.randn(1, 64)
    b = b / b.norm() * a.norm()
    middle = slerp(a, b, torch.tensor([[0.5]]))
    assert torch.allclose(middle.norm(), a.norm(), rtol=1e-4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, 10**6, 1.0), "grid size"),
        ((1, 0, 1.0), "grid size"),
        ((-2, 4, 1.0), "seed"),
        ((2**70, 4, 1.0), "seed"),
        ((1, 4, float("nan")), "ψ"),
        ((1, 4, 9.0), "ψ"),
    ],
)
def test_bad_requests(engines, args, message):
    with pytest.raises(InputError, match=message):
        engines.gan.sample(*args, model_id="tiny-gan")


def test_missing_model_is_a_clear_error(engines):
    with pytest.raises(InputError, match="unknown gan model"):
        engines.gan.sample(1, 4, 1.0, model_id="no-such-gan")


def saved_learning_rates(run_dir):
    """[G's, D's] learning rate as a training run last saved its optimizers."""
    state = torch.load(run_dir / "last.pt", weights_only=True)
    return [group["lr"] for part in ("opt_g", "opt_d") for group in state[part]["param_groups"]]


@pytest.mark.slow
def test_trainer_on_a_folder_writes_a_checkpoint_the_registry_finds(tmp_path):
    """Train a few steps on a temp folder of odd images; the export appears in the GAN dropdown."""
    from PIL import Image

    from training import train_gan

    folder = tmp_path / "art"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20 + 7 * i, 30, 3), np.uint8)).save(folder / f"{i}.png")
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(folder / "alpha.webp")
    (folder / "notes.txt").write_text("not an image")
    checkpoints = tmp_path / "checkpoints"
    args = [
        "--data",
        str(folder),
        "--name",
        "my-gan",
        "--resolution",
        "16",
        "--batch-size",
        "4",
        "--base-channels",
        "8",
        "--run-dir",
        str(tmp_path / "run"),
        "--out",
        str(checkpoints / "my-gan"),
    ]
    train_gan.main([*args, "--steps", "2"])
    train_gan.main([*args, "--steps", "4", "--loss", "wgan-gp"])  # resumes, other loss
    train_gan.main([*args, "--steps", "6", "--loss", "wgan-gp", "--lr-decay"])  # a last stretch, rates to 0
    engines = create_engines(Registry(checkpoints), Runtime(torch.device("cpu"), torch.float32))
    assert [m.id for m in engines.registry.models("gan")] == ["my-gan"]
    assert len(engines.gan.sample(0, 3, 1.0, "my-gan")) == 3
    assert (checkpoints / "my-gan" / "samples.png").exists()
    history = json.loads((checkpoints / "my-gan" / "training_metrics.json").read_text())["history"]
    stretches = [(h["from_step"], h["to_step"], h["loss"], h.get("lr_decay", False)) for h in history]
    assert stretches == [(0, 2, "hinge", False), (2, 4, "wgan-gp", False), (4, 6, "wgan-gp", True)]
    card = (checkpoints / "my-gan" / "README.md").read_text()
    assert "cutout |" in card.split("steps 2–4")[1].splitlines()[0]  # no decay before the last stretch
    assert "cutout, learning rates decayed linearly to 0 |" in card.split("steps 4–6")[1].splitlines()[0]
    assert saved_learning_rates(tmp_path / "run") == [1e-4, 1e-4]  # the last step (5 of 4..6) ran at half rate
    train_gan.main([*args, "--steps", "7", "--loss", "wgan-gp"])  # resumed without decay: the full rate again
    assert saved_learning_rates(tmp_path / "run") == [2e-4, 2e-4]
    command = json.loads((checkpoints / "my-gan" / "training_metrics.json").read_text())["command"]
    assert "--loss wgan-gp" in command and "--run-dir" not in command and "--out" not in command


def test_discriminator_signs_tell_memorised_training_images_from_held_out_ones():
    from training.train_gan import TrainingSet, discriminator_signs

    class Brightness(torch.nn.Module):  # a "discriminator" that calls bright images real
        def forward(self, x, labels=None):
            return x.mean((1, 2, 3))

    bright, dark = torch.full((6, 3, 8, 8), 250, dtype=torch.uint8), torch.full((4, 3, 8, 8), 5, dtype=torch.uint8)
    generator = Generator(z_dim=8, resolution=8, base_channels=4).eval()
    signs = discriminator_signs(Brightness(), generator, TrainingSet(bright, heldout=TrainingSet(dark)), "cpu")
    assert signs["training images"] == 1.0 and signs["held-out images"] == -1.0
    assert -1.0 <= signs["generated"] <= 1.0
    no_heldout = discriminator_signs(Brightness(), generator, TrainingSet(bright), "cpu")
    assert set(no_heldout) == {"training images", "generated"}


@pytest.mark.slow
def test_adaptive_augmentation_run_keeps_p_across_a_resume_and_in_the_card(tmp_path):
    from PIL import Image

    from training import train_gan

    (tmp_path / "art").mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(tmp_path / "art" / f"{i}.png")
    args = ["--data", str(tmp_path / "art"), "--name", "ada", "--resolution", "16", "--batch-size", "4"]
    args += ["--base-channels", "8", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "out" / "ada")]
    for bad in (["--ada-target", "0.6", "--diffaug", ""], ["--ada-target", "1.5"], ["--diffaug", "rotate"]):
        with pytest.raises(SystemExit):
            train_gan.main([*args, "--steps", "1", *bad])
    train_gan.main([*args, "--steps", "2"])  # plain DiffAugment first
    train_gan.main([*args, "--steps", "8", "--ada-target", "0.6"])
    first_p = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["augment_p"]
    step = 4 * 4 / (train_gan.ADA_KIMG * 1000)  # one update every 4 steps of 4 images
    assert round(first_p / step) in (0, 1)  # one update so far (p starts at 0 and stays >= 0)
    train_gan.main([*args, "--steps", "16", "--ada-target", "0.6"])  # resumes from p, in the same segment
    meta = json.loads((tmp_path / "out" / "ada" / "training_metrics.json").read_text())
    assert [(h["from_step"], h["to_step"], h["ada_target"]) for h in meta["history"]] == [(0, 2, None), (2, 16, 0.6)]
    assert "LeCam" not in (tmp_path / "out" / "ada" / "README.md").read_text()
    assert meta["history"][-1]["augment_p"] == meta["augment_p"]
    assert abs(meta["augment_p"] - first_p) <= 2 * step + 1e-9  # two more updates, not a restart at 0
    card = (tmp_path / "out" / "ada" / "README.md").read_text()
    assert f"adaptive augmentation (target 0.6, p = {meta['augment_p']:.3f} at the end)" in card
    signs = meta["discriminator_signs"]  # a folder has no held-out images
    assert set(signs) == {"training images", "generated"} and all(-1 <= v <= 1 for v in signs.values())
    assert f"training images {signs['training images']:+.2f}, generated {signs['generated']:+.2f}" in card
    train_gan.main([*args, "--steps", "18", "--ada-target", "0.6", "--lecam", "0.3"])  # a new segment
    meta = json.loads((tmp_path / "out" / "ada" / "training_metrics.json").read_text())
    assert [(h["from_step"], h["lecam"]) for h in meta["history"][1:]] == [(2, 0.0), (16, 0.3)]
    assert "LeCam regularisation (weight 0.3)" in (tmp_path / "out" / "ada" / "README.md").read_text()


def test_conditional_training_shares_the_trainer_and_exports_labels(tmp_path):
    """Subfolders are classes; the export is a 'conditional' checkpoint with its class names."""
    from PIL import Image

    from engines.nets.gan import Generator
    from training import train_gan

    rng = np.random.default_rng(0)
    for name, count in (("cats", 5), ("dogs", 2)):  # unbalanced on purpose
        (tmp_path / "art" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)).save(tmp_path / "art" / name / f"{i}.png")
    Image.new("RGB", (24, 24)).save(tmp_path / "art" / "loose.png")  # not in a class folder: skipped
    checkpoints = tmp_path / "checkpoints"
    args = ["--data", str(tmp_path / "art"), "--conditional", "--name", "pets", "--resolution", "16"]
    args += ["--batch-size", "4", "--base-channels", "8", "--steps", "2", "--run-dir", str(tmp_path / "run")]
    train_gan.main([*args, "--out", str(checkpoints / "pets")])
    settings = json.loads((checkpoints / "pets" / "atelier.json").read_text())
    assert settings["task"] == "conditional" and settings["labels"] == {"class": ["cats", "dogs"]}
    assert "label_titles" not in settings  # folder names are already what people call them
    assert json.loads((checkpoints / "pets" / "training_metrics.json").read_text())["images"] == 7
    assert (checkpoints / "pets" / "samples-0.png").is_file()
    generator = Generator.from_pretrained(checkpoints / "pets").float().eval()
    z = torch.randn(3, generator.z_dim)
    with torch.no_grad():
        by_class = [generator(z, torch.full((3, 1), c)) for c in range(3)]  # cats, dogs, any (index 2)
    assert not torch.equal(by_class[0], by_class[1]) and not torch.equal(by_class[0], by_class[2])

    # fine-tuning that export on the same folders: a new run starts from its generator, and the card says so
    tuned = [*args[:-2], "--run-dir", str(tmp_path / "tuned-run"), "--name", "pets-tuned"]
    train_gan.main([*tuned, "--out", str(checkpoints / "pets-tuned"), "--init-from", str(checkpoints / "pets")])
    card = (checkpoints / "pets-tuned" / "README.md").read_text()
    assert f"started from the generator exported in {checkpoints / 'pets'}" in card
    assert f"--init-from {checkpoints / 'pets'}" in card


def test_balanced_sampling_evens_out_unbalanced_classes():
    from training.train_gan import balanced_indices, drop_labels

    labels = torch.tensor([[0, 0]] * 90 + [[1, 1]] * 10)
    picked = labels[balanced_indices(labels, 2000, torch.Generator().manual_seed(0)), 0]
    assert 0.45 < picked.float().mean() < 0.55  # the 10% class is drawn half the time
    dropped = drop_labels(labels, [2, 2], torch.Generator().manual_seed(0))
    assert 0.1 < (dropped == 2).float().mean() < 0.3 and set(dropped.unique().tolist()) == {0, 1, 2}


BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"


def bundled_engines():
    return create_engines(Registry(BUNDLED), Runtime(torch.device("cpu"), torch.float32))


@pytest.mark.skipif(not (BUNDLED / "emoji-gan" / "atelier.json").exists(), reason="no bundled GAN yet")
def test_bundled_emoji_gan_grid_of_64_does_not_repeat_itself():
    """No mode collapse: 64 seeds give 64 different pictures, spread over the art styles."""
    from engines.nets.features import EmojiEncoder

    grid = bundled_engines().gan.sample(0, 64, 1.0, "emoji-gan")
    x = torch.stack([torch.from_numpy(np.asarray(g.image, np.float32)) for g in grid]).permute(0, 3, 1, 2) / 127.5 - 1
    differences = (x[:, None] - x[None]).abs().mean((2, 3, 4)) + torch.eye(64) * 10
    assert differences.min() > 0.03  # the two most alike of 64 still differ clearly
    net = EmojiEncoder.from_pretrained(BUNDLED / "emoji-features").eval()
    with torch.no_grad():
        out = net(x)
    assert len(out["style_logits"].argmax(1).unique()) >= 3
    assert len(out["category_logits"].argmax(1).unique()) >= 5


def test_init_from_an_export_starts_where_it_left_off_and_new_label_sets_add_nothing(tmp_path):
    """Fine-tuning: a new run starts from an exported generator; a label set the export lacks
    (subjects) starts at zero, so every subject draws what the export drew."""
    from engines.nets.gan import Generator
    from training.train_gan import init_generator

    torch.manual_seed(0)
    source = Generator(16, 16, 8, label_sizes=[3, 2], embed_dim=8).eval()
    for linear in source.label_modulations:
        torch.nn.init.normal_(linear.weight, std=0.5)
    source.save_pretrained(tmp_path / "export")
    target = Generator(16, 16, 8, label_sizes=[3, 2, 5], embed_dim=8).eval()
    init_generator(target, tmp_path / "export")
    z, labels = torch.randn(4, 16), torch.tensor([[0, 1], [2, 0], [3, 2], [1, 1]])
    with torch.no_grad():
        for subject in (0, 4, 5):
            with_subject = torch.cat([labels, torch.full((4, 1), subject)], 1)
            assert torch.allclose(target(z, with_subject), source(z, labels), atol=1e-6)
    unconditional = Generator(16, 16, 8).eval()
    unconditional.save_pretrained(tmp_path / "unconditional")
    pets = Generator(16, 16, 8, label_sizes=[2], embed_dim=8).eval()
    init_generator(pets, tmp_path / "unconditional")  # a conditional GAN of your folders from the emoji GAN
    with torch.no_grad():
        assert torch.allclose(pets(z, torch.tensor([[0], [1], [2], [0]])), unconditional(z), atol=1e-6)
    assert pets.label_embeddings[0].weight.abs().sum() > 0  # fresh embeddings, so the labels can be learnt
    with pytest.raises(SystemExit, match="--base-channels"):
        init_generator(Generator(16, 16, 16, label_sizes=[3, 2], embed_dim=8), tmp_path / "export")
    with pytest.raises(SystemExit, match="has labels"):
        init_generator(Generator(16, 16, 8, label_sizes=[4, 2], embed_dim=8), tmp_path / "export")


def test_subjects_need_the_emoji_set(tmp_path):
    from training import train_gan

    for extra in ([], ["--conditional", "--data", str(tmp_path)]):
        with pytest.raises(SystemExit):
            train_gan.main(["--subjects", "8", "--steps", "1", "--run-dir", str(tmp_path / "run"), *extra])


@pytest.mark.slow
def test_subjects_group_like_emoji_within_each_category():
    """Balanced groups of like things by caption, never across categories; held-out emoji join the nearest."""
    from training.subjects import group_subjects

    fruit = ["red apple, fruit", "green apple, fruit", "pear, fruit", "cherries, fruit"]
    drinks = ["beer mug, drink, glass", "wine glass, drink", "cocktail glass, drink", "tumbler glass, drink"]
    faces = ["grinning face, smile", "crying face, tears", "winking face, wink"]
    captions = fruit + drinks + faces + ["peach, fruit"]
    data = {
        "hexcode": np.array([f"{i:04X}" for i in range(len(captions))]),
        "category": np.array([1] * 8 + [0] * 3 + [1]),
        "heldout": np.array([False] * 11 + [True]),
        "label": np.array([c.split(",")[0] for c in captions]),
        "caption": np.array(captions),
        "category_names": np.array(["smileys", "food"]),
    }
    subjects = group_subjects(data, per_subject=4)
    assert subjects.category == [0, 1, 1]  # one group of faces; fruit and drinks in food
    group = [subjects.of_emoji[f"{i:04X}"] for i in range(len(captions))]
    assert len(set(group[:4])) == 1 and len(set(group[4:8])) == 1 and group[0] != group[4]
    assert group[-1] == group[0]  # the held-out peach joins the fruit
    assert subjects.names[group[0]] in {"red-apple", "green-apple", "pear", "cherries"}
    assert len(subjects.titles[group[0]].split(", ")) == 3


def test_balanced_kmeans_groups_all_have_members_and_room():
    from training.subjects import balanced_kmeans

    torch.manual_seed(0)
    # three tight bunches of three: two of the four starting centres can fall in one bunch,
    # whose three rows then fill one of them and leave the other empty
    directions = torch.nn.functional.normalize(torch.eye(3) + 0.01 * torch.randn(3, 3), dim=1)
    x = torch.nn.functional.normalize(directions.repeat_interleave(3, 0) + 0.001 * torch.randn(9, 3), dim=1)
    for seed in range(20):
        centres, assign = balanced_kmeans(x, 4, seed)
        sizes = torch.bincount(assign, minlength=len(centres))
        assert len(centres) <= 4 and (sizes > 0).all() and (sizes <= 3).all()
