"""The StyleGAN-family generator: mapping, modulation, mixing, truncation in w space; its engine
operations (style mixing, the w-space walk) and its trainer (resume from the compact state, export)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engines.errors import InputError
from engines.nets.style import StyledConv, StyleGenerator


def pixels(results) -> np.ndarray:
    return np.stack([np.asarray(r.image, dtype=np.int16) for r in results])


def tiny(resolution: int = 16) -> StyleGenerator:
    torch.manual_seed(0)
    return StyleGenerator(z_dim=16, w_dim=16, resolution=resolution, base_channels=8, mapping_layers=2).eval()


@pytest.mark.parametrize("resolution", [8, 16, 32, 64])
def test_every_resolution_gives_one_style_per_convolution(resolution):
    model = tiny(resolution)
    assert model(torch.randn(2, 16)).shape == (2, 3, resolution, resolution)
    sizes = model.layer_sizes()
    assert len(sizes) == model.num_ws == len(model.convs) and sizes[0] == 4 and sizes[-1] == resolution
    with pytest.raises(ValueError, match="power of two"):
        StyleGenerator(resolution=48)


def test_mapping_normalises_z_and_truncation_pulls_w_towards_its_mean():
    model = tiny()
    z = torch.randn(4, 16)
    with torch.no_grad():
        model.w_avg.copy_(torch.randn(16))
        assert torch.allclose(model.mapping(3 * z), model.mapping(z), atol=1e-5)  # z's scale is normalised away
        w, half = model.mapping(z), model.mapping(z, 0.5)
        assert torch.allclose(half, model.w_avg + 0.5 * (w - model.w_avg), atol=1e-6)
        assert torch.allclose(model.mapping(z, 0.0), model.w_avg.expand(4, -1))


def test_demodulation_gives_unit_variance_whatever_the_style_scale():
    torch.manual_seed(0)
    conv = StyledConv(32, 32, w_dim=8)
    x, w = torch.randn(2, 32, 16, 16), torch.randn(2, 8)
    with torch.no_grad():
        out = conv(x, w)
        conv.affine.weight.mul_(10), conv.affine.bias.mul_(10)  # styles ten times larger: demodulation undoes it
        assert torch.allclose(conv(x, w), out, atol=1e-4)
    assert 0.5 < out.var().item() < 2.5  # leaky ReLU × √2 of about unit-variance features


def test_mixing_at_each_crossover_is_the_unmixed_image_at_the_extremes():
    model = tiny()
    with torch.no_grad():
        w = model.mapping(torch.randn(2, 16))
        a, b = (model.synthesis(v[None, None].expand(1, model.num_ws, -1)) for v in w)
        assert torch.allclose(model.synthesis(model.mix(w[:1], w[1:], model.num_ws)), a)
        assert torch.allclose(model.synthesis(model.mix(w[:1], w[1:], 0)), b)
        mixed = [model.synthesis(model.mix(w[:1], w[1:], k)) for k in range(1, model.num_ws)]
    assert all(not torch.allclose(m, a) and not torch.allclose(m, b) for m in mixed)
    per_image = model.mix(w, w.flip(0), torch.tensor([1, model.num_ws]))  # a crossover per image, as training mixes
    assert torch.equal(per_image[1], w[1].expand(model.num_ws, -1)) and torch.equal(
        per_image[0, 1:], w[1:].expand(model.num_ws - 1, -1)
    )


def test_engine_loads_the_style_model_and_psi_zero_is_w_avg_for_every_seed(engines):
    grid = pixels(engines.gan.sample(seed=0, count=4, psi=0.0, model_id="tiny-stylegan"))
    assert (np.abs(grid - grid[0]).max(axis=(1, 2, 3)) <= 1).all()
    loaded, _ = engines.gan.load("tiny-stylegan")
    (average,) = engines.gan.synthesise(loaded, loaded.model.w_avg[None])
    assert np.abs(np.asarray(average, dtype=np.int16) - grid[0]).max() <= 1
    full = pixels(engines.gan.sample(seed=0, count=4, psi=1.0, model_id="tiny-stylegan"))
    assert np.abs(full - full.mean(0)).mean() > np.abs(grid - grid.mean(0)).mean()


def test_style_mix_grid_rows_give_coarse_styles_columns_fine_and_seeds_alone_head_it(engines):
    grid = engines.gan.style_mix([3, 4], [7, 8, 9], 2, 1.0, "tiny-stylegan")
    assert len(grid) == 3 and all(len(row) == 4 for row in grid) and grid[0][0] is None
    alone = {s: pixels(engines.gan.sample(s, 1, 1.0, "tiny-stylegan"))[0] for s in (3, 4, 7, 8, 9)}
    assert [np.abs(pixels([c])[0] - alone[s]).max() <= 1 for c, s in zip(grid[0][1:], (7, 8, 9), strict=True)] == [
        True
    ] * 3
    assert [np.abs(pixels([row[0]])[0] - alone[s]).max() <= 1 for row, s in zip(grid[1:], (3, 4), strict=True)] == [
        True
    ] * 2
    cell = grid[2][3]  # row seed 4's coarse styles, column seed 9's fine ones
    assert cell.recipe["seed"] == 4 and cell.recipe["operation"] == "style_mix"
    assert cell.recipe["params"] | {} == {
        "row_seeds": [3, 4],
        "column_seeds": [7, 8, 9],
        "crossover": 2,
        "psi": 1.0,
        "column_seed": 9,
    }
    (again,) = engines.gan.style_mix([4], [9], 2, 1.0, "tiny-stylegan")[1][1:]  # the cell made alone
    assert again.image.tobytes() == cell.image.tobytes()
    assert not np.array_equal(pixels([cell])[0], alone[4]) and not np.array_equal(pixels([cell])[0], alone[9])


@pytest.mark.parametrize(
    ("rows", "columns", "crossover", "model", "message"),
    [
        (list(range(9)), [1], 2, "tiny-stylegan", "1 to 8 row seeds"),
        ([1], [], 2, "tiny-stylegan", "column seeds"),
        ("1, 2", [1], 2, "tiny-stylegan", "row seeds"),
        ([1], [-1], 2, "tiny-stylegan", "column seed"),
        ([1], [2], 0, "tiny-stylegan", "crossover"),
        ([1], [2], 99, "tiny-stylegan", "crossover"),
        ([1], [2], 2, "tiny-gan", "DCGAN"),
    ],
)
def test_bad_style_mix_requests_get_a_clear_message(engines, rows, columns, crossover, model, message):
    with pytest.raises(InputError, match=message):
        engines.gan.style_mix(rows, columns, crossover, 1.0, model)


def test_walk_is_straight_in_w_space_between_both_seeds(engines):
    walk = engines.gan.interpolate(5, 9, 5, 0.7, "tiny-stylegan")
    ends = [pixels(engines.gan.sample(s, 1, 0.7, "tiny-stylegan"))[0] for s in (5, 9)]
    frames = np.stack([np.asarray(f, dtype=np.int16) for f in walk.frames])
    assert np.abs(frames[0] - ends[0]).max() <= 1 and np.abs(frames[-1] - ends[1]).max() <= 1
    loaded, _ = engines.gan.load("tiny-stylegan")
    w = engines.gan.styles(loaded, [5, 9], 0.7)
    (middle,) = engines.gan.synthesise(loaded, w.mean(0, keepdim=True))
    assert np.abs(np.asarray(middle, dtype=np.int16) - frames[2]).max() <= 1


def test_style_trainer_mixes_resumes_from_the_compact_state_and_exports(tmp_path):
    from PIL import Image

    from engines import create_engines
    from engines.registry import Registry
    from engines.runtime import Runtime
    from training import train_gan

    (tmp_path / "art").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(tmp_path / "art" / f"{i}.png")
    state, out = tmp_path / "resume" / "styled.pt", tmp_path / "checkpoints" / "styled"
    args = ["--arch", "style", "--data", str(tmp_path / "art"), "--name", "styled", "--resolution", "16"]
    args += [
        "--batch-size",
        "4",
        "--base-channels",
        "8",
        "--diffaug",
        "",
        "--minibatch-std",
        "--mapping-layers",
        "2",
        "--resume-state",
        str(state),
        "--out",
        str(out),
    ]
    train_gan.main([*args, "--steps", "3", "--run-dir", str(tmp_path / "run")])
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 3 and {"g", "d", "ema"} <= set(saved) and saved["g"]["w_avg"].dtype == torch.float16
    assert saved["g"]["w_avg"].abs().sum() > 0  # w̄ moved towards the batches' styles
    train_gan.main([*args, "--steps", "5", "--run-dir", str(tmp_path / "new-machine")])  # no last.pt: the compact state
    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["steps"] == 5 and metrics["arch"] == "style" and metrics["history"][0]["from_step"] == 0
    settings = json.loads((out / "atelier.json").read_text())
    assert settings["arch"] == "style" and settings["layers"] == [4, 8, 8, 16, 16]
    card = (out / "README.md").read_text()
    assert (out / "mixing.png").is_file() and "StyleGAN" in card and "minibatch standard deviation" in card
    assert "a 2-layer mapping network" in card and json.loads((out / "config.json").read_text())["mapping_layers"] == 2
    engines = create_engines(Registry(tmp_path / "checkpoints"), Runtime(torch.device("cpu"), torch.float32))
    assert len(engines.gan.style_mix([0, 1], [2], 3, 1.0, "styled")) == 3
    new_segment = ["--style-mixing", "0", "--minibatch-group", "2", "--batch-size", "2"]  # none has weights
    train_gan.main([*args, "--steps", "6", *new_segment, "--run-dir", str(tmp_path / "new-machine")])
    metrics = json.loads((out / "training_metrics.json").read_text())
    segments = [(h["from_step"], h["style_mixing"], h["minibatch_group"]) for h in metrics["history"]]
    assert segments == [(0, 0.9, 4), (5, 0.0, 2)]
    card = (out / "README.md").read_text()
    assert "style mixing for 0% of the fakes" in card and "minibatch standard deviation over groups of 2" in card
    assert "| 6 steps × batch 4, then 2," in card and "| steps 5–6 | loss hinge, DiffAugment off, batch 2," in card
    narrow = ["--new-discriminator", "--discriminator-channels", "4"]  # G kept from the compact state, D afresh
    kept = torch.load(state, weights_only=True)
    warm = [*narrow, "--discriminator-warmup", "1"]  # the first step trains D alone: G and its EMA stay as they were
    train_gan.main([*args, "--steps", "7", *new_segment, *warm, "--run-dir", str(tmp_path / "narrow")])
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 7 and saved["d"]["net.0.parametrizations.weight.original"].shape[0] == 4
    weights = [k for k in kept["g"] if k != "w_avg"]  # (w̄ goes on averaging the still generator's w)
    assert all(torch.equal(kept[net][k], saved[net][k]) for net in ("g", "ema") for k in weights)
    train_gan.main([*args, "--steps", "8", *new_segment, *warm, "--run-dir", str(tmp_path / "narrow")])
    moved = torch.load(state, weights_only=True)["g"]  # resumed from its own folder: warmed up already, G trains
    assert not all(torch.equal(saved["g"][k], moved[k]) for k in moved)
    seeking = [*new_segment, "--discriminator-channels", "4", "--mode-seeking", "1", "--consistency", "10"]
    seeking += ["--ema-decay", "0.99", "--path-length", "2", "--discriminator-lr", "1e-4", "--imle", "0.5"]
    train_gan.main([*args, "--steps", "9", *seeking, "--run-dir", str(tmp_path / "narrow")])
    history = json.loads((out / "training_metrics.json").read_text())["history"]
    assert history[-1]["from_step"] == 8 and history[-1]["mode_seeking"] == 1 and history[-1]["consistency"] == 10
    card = (out / "README.md").read_text()
    assert "(weight 1), the discriminator's learning rate 0.0001, path length regularisation (weight 2)" in card
    assert "(weight 10), IMLE's pull (weight 0.5), EMA decay 0.99" in card
    assert json.loads((out / "training_metrics.json").read_text())["history"][-1]["discriminator_channels"] == 4
    assert "the discriminator at base width 4" in (out / "README.md").read_text()
    # a resumed run gains the feature critic: its head starts afresh, then resumes with the steps it has learnt
    kept = torch.load(state, weights_only=True)
    critic = [*new_segment, "--discriminator-channels", "4", "--feature-critic", "0.5"]
    train_gan.main([*args, "--steps", "10", *critic, "--run-dir", str(tmp_path / "narrow")])
    saved = torch.load(state, weights_only=True)
    assert set(saved["f"]) and all(k.startswith(("0.", "2.", "5.")) for k in saved["f"])  # the head, not the VAE
    assert json.loads(saved["recipe"])["critic_steps"] == 1 and saved["f"]["0.bias"].dtype == torch.float16
    assert not torch.equal(kept["d"]["net.0.bias"], saved["d"]["net.0.bias"])  # D trained on beside it
    train_gan.main([*args, "--steps", "11", *critic, "--run-dir", str(tmp_path / "critic-machine")])
    assert json.loads(torch.load(state, weights_only=True)["recipe"])["critic_steps"] == 2
    assert "a second critic on the VAE encoder's features (weight 0.5)" in (out / "README.md").read_text()
    warm_alone = ["--discriminator-warmup", "5"]  # a warm-up for a discriminator that is not new
    bad_args = (["--conditional"], ["--style-mixing", "1.5"], ["--minibatch-group", "3"], ["--ema-decay", "1"])
    bad_args += (["--mapping-layers", "0"], ["--path-length", "-1"], ["--discriminator-lr", "0"], ["--imle", "-1"])
    bad_args += (["--feature-critic", "-1"], ["--feature-critic", "1", "--loss", "wgan-gp"])
    for bad in (*bad_args, warm_alone):
        with pytest.raises(SystemExit):
            train_gan.main([*args, "--steps", "7", *bad, "--run-dir", str(tmp_path / "run")])


def test_the_mode_seeking_term_is_lower_the_more_different_latents_draw_differently():
    from training.train_gan import mode_seeking_penalty

    z = torch.randn(8, 4)
    alike = torch.zeros(8, 3, 4, 4).requires_grad_()
    apart = torch.cat([torch.zeros(4, 3, 4, 4), torch.ones(4, 3, 4, 4)]).requires_grad_()
    assert mode_seeking_penalty(apart, z) < 10 < mode_seeking_penalty(alike, z)  # 1 / (1e-5) when all alike
    mode_seeking_penalty(apart, z).backward()
    assert apart.grad[:4].sum() > 0 > apart.grad[4:].sum()  # a descent step moves the halves further apart


def test_path_length_regularisation_pulls_each_step_size_in_w_towards_their_running_mean():
    from training.train_gan import PATH_LENGTH_DECAY, path_length_penalty

    generator = StyleGenerator(8, 8, 16, 8)
    torch.manual_seed(1)
    first, target = [], [5.0]
    penalty = path_length_penalty(generator, 6, first)  # a first use: the target is these lengths' mean
    torch.manual_seed(1)
    path_length_penalty(generator, 6, target)  # the same latents and directions, a target kept from before
    assert target[0] == pytest.approx(5.0 + PATH_LENGTH_DECAY * (first[0] - 5.0))
    assert penalty > 0  # the images move by different amounts for a step in w
    penalty.backward()
    assert generator.convs[1].weight.grad.abs().sum() > 0 and generator.mapping_net[0].weight.grad is not None


def test_imle_pulls_the_nearest_of_a_pool_of_fakes_towards_each_real_image():
    import torch.nn.functional as F

    from training.train_gan import IMLE_CANDIDATES, Z_DIM, imle_penalty

    torch.manual_seed(0)
    generator, real = StyleGenerator(Z_DIM, 8, 8, 8), torch.rand(3, 3, 8, 8) * 2 - 1
    torch.manual_seed(1)
    penalty = imle_penalty(generator, real)
    torch.manual_seed(1)
    pool = torch.randn(IMLE_CANDIDATES * 3, Z_DIM)
    with torch.no_grad():  # [real, pool]: each real image against every fake, at half the resolution
        errors = (F.avg_pool2d(generator(pool), 2)[None] - F.avg_pool2d(real, 2)[:, None]).square().mean((2, 3, 4))
    assert penalty.item() == pytest.approx(errors.min(1).values.mean().item(), rel=1e-5)
    assert errors.min(1).values.mean() < errors.mean()  # the nearest, not any fake
    penalty.backward()
    assert generator.convs[0].weight.grad.abs().sum() > 0


def test_mixing_regularisation_mixes_the_share_of_fakes_it_is_given():
    from training.train_gan import draw_fakes

    torch.manual_seed(0)
    generator, z = StyleGenerator(8, 8, 16, 8), torch.randn(6, 8)
    unmixed = generator.synthesis(generator.mapping(z)[:, None].expand(-1, generator.num_ws, -1))
    assert torch.allclose(draw_fakes(generator, z, None, mixing=0.0), unmixed, atol=1e-6)
    mixed = draw_fakes(generator, z, None, mixing=1.0)
    assert all(not torch.allclose(a, b, atol=1e-4) for a, b in zip(mixed, unmixed, strict=True))


def test_consistency_asks_the_discriminator_to_score_shifted_images_alike():
    from training.train_gan import consistency_penalty

    images = torch.rand(6, 3, 16, 16) * 2 - 1
    conv = torch.nn.Conv2d(3, 1, 16)  # reads every pixel where it is: shifting changes its score

    def reads_pixels(x, labels):
        return conv(x).flatten()

    def reads_nothing(x, labels):
        return x.new_zeros(len(x))

    assert consistency_penalty(reads_pixels, images, reads_pixels(images, None), None) > 0
    consistency_penalty(reads_pixels, images, reads_pixels(images, None), None).backward()
    assert conv.weight.grad.abs().sum() > 0  # D learns from it
    assert consistency_penalty(reads_nothing, images, reads_nothing(images, None), None) == 0


def test_the_feature_critic_learns_only_its_head_and_passes_gradients_to_the_images(tmp_path):
    from diffusers import AutoencoderKL

    from training.feature_critic import FeatureCritic, vae_encoder

    blocks = ("DownEncoderBlock2D",) * 2
    AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=blocks, up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=2, norm_num_groups=4, layers_per_block=1,
    ).save_pretrained(tmp_path / "vae")  # fmt: skip
    critic = FeatureCritic(vae_encoder(tmp_path / "vae"), channels=6).train()
    assert not critic.encoder.training  # frozen, so its norms stay in inference behaviour
    images = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    scores = critic(images)
    assert scores.shape == (4,)
    scores.sum().backward()
    assert images.grad.abs().sum() > 0  # the generator hears it through the frozen encoder
    assert all(p.grad is None for p in critic.encoder.parameters())
    assert all(p.grad is not None for p in critic.head.parameters())
    state = critic.state_dict()
    assert not any(k.startswith("encoder") for k in state)  # the VAE is the bundled one: only the head is kept
    again = FeatureCritic(vae_encoder(tmp_path / "vae"), channels=6)
    again.load_state_dict(state)
    critic.eval()
    again.eval()
    assert torch.equal(again(images), critic(images))
