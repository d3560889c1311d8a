"""Shared fixtures: tiny random-weight models saved locally (nothing is downloaded), temp galleries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the network
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent


def tiny_kl(widths: tuple[int, ...], sample_size: int):
    """A random-weight AutoencoderKL small enough for tests: 4 latent channels, one layer per block."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * len(widths),
        up_block_types=("UpDecoderBlock2D",) * len(widths),
        block_out_channels=widths,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=sample_size,
    )


def save_tiny_autoencoder_kl(folder: Path, *, bundled: bool, sample_size: int = 32) -> Path:
    import torch

    torch.manual_seed(0)
    vae = tiny_kl((8, 16), sample_size)
    vae.save_pretrained(folder, safe_serialization=True)
    if bundled:
        settings = {
            "task": "vae",
            "title": "tiny test VAE",
            "image_size": sample_size,
            "latent_mean": [0.0] * 4,
            "latent_std": [1.0] * 4,
        }
        (folder / "atelier.json").write_text(json.dumps(settings))
    return folder


def save_tiny_autoencoder_tiny(folder: Path) -> Path:
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    vae.save_pretrained(folder, safe_serialization=True)
    return folder


TINY_LABELS = {"category": ["smileys", "animals", "food"], "style": ["flat", "3d"]}
TINY_TITLES = {"category": ["Smileys", "Animals", "Food & Drink"], "style": ["Flat", "3D"]}
# subjects nested in the categories, drawn from each image's seed (training/subjects.py)
TINY_SUBJECTS = {"subject": ["grin", "cat", "dog", "apple"]}
TINY_DRAWN = {"subject": {"within": "category", "parents": [0, 1, 1, 2]}}


def save_tiny_generator(
    folder: Path,
    resolution: int = 16,
    labels: dict | None = None,
    titles: dict | None = None,
    drawn: dict | None = None,
) -> Path:
    """A random-weight generator in the exported format (what training/train_gan.py writes);
    with labels (and their titles, and drawn label sets such as subjects), a conditional one."""
    import torch

    from engines.nets.gan import Generator

    torch.manual_seed(0)
    sizes = [len(names) for names in (labels or {}).values()]
    generator = Generator(z_dim=16, resolution=resolution, base_channels=8, label_sizes=sizes, embed_dim=8).eval()
    for linear in generator.label_modulations:  # as after training: labels change the picture
        torch.nn.init.normal_(linear.weight, std=0.5)
    with torch.no_grad():  # BatchNorm running stats as after training, so outputs are not degenerate
        batch_labels = torch.stack([torch.randint(n + 1, (64,)) for n in sizes], 1) if sizes else None
        generator.train()(torch.randn(64, 16), batch_labels)
    generator.eval().save_pretrained(folder)
    settings = {"task": "conditional" if labels else "gan", "title": "tiny test GAN", "resolution": resolution}
    if labels:
        settings["labels"] = labels
    if titles:
        settings["label_titles"] = titles
    if drawn:
        settings["drawn_labels"] = drawn
    (folder / "atelier.json").write_text(json.dumps(settings))
    return folder


def save_tiny_style_generator(folder: Path) -> Path:
    """A random-weight StyleGAN-family generator in the exported format (train_gan.py --arch style),
    with w̄ the mean of its mapping's outputs, as training leaves it."""
    import torch

    from engines.nets.style import StyleGenerator

    torch.manual_seed(0)
    generator = StyleGenerator(z_dim=16, w_dim=16, resolution=16, base_channels=8, mapping_layers=2).eval()
    with torch.no_grad():
        generator.w_avg.copy_(generator.mapping(torch.randn(256, 16)).mean(0))
    generator.save_pretrained(folder)
    settings = {"task": "gan", "title": "tiny test StyleGAN", "resolution": 16, "arch": "style"}
    (folder / "atelier.json").write_text(json.dumps(settings | {"layers": generator.layer_sizes()}))
    return folder


def tiny_clip(tokenizer, *, hidden_size: int, intermediate_size: int, max_tokens: int):
    """A one-layer random-weight CLIP text encoder over the tokenizer's vocabulary, as hub pipelines use."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=1,
        num_attention_heads=4,
        max_position_embeddings=max_tokens,
    )
    return CLIPTextModel(config)


def save_tiny_text_pipeline(folder: Path, *, bundled: bool) -> Path:
    """A random-weight StableDiffusionPipeline, tokenizer included, nothing downloaded.

    bundled=True: our format (MiniLM-style BERT text encoder, 16x16 latents, atelier.json).
    bundled=False: hub-style (CLIP text encoder, no atelier.json), as a hub repo would be."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from engines.text_encoder import model_path
    from training.train_ldm import build_pipeline, new_unet

    torch.manual_seed(0)
    max_tokens = 16
    tokenizer = BertTokenizerFast.from_pretrained(model_path(), model_max_length=max_tokens)
    if bundled:
        text_encoder = BertModel(
            BertConfig(hidden_size=384, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
        )
        text_encoder.config.use_attention_mask = True
    else:
        text_encoder = tiny_clip(tokenizer, hidden_size=384, intermediate_size=64, max_tokens=max_tokens)
    vae = tiny_kl((8, 8, 8), 64)
    pipe = build_pipeline(new_unet((32, 32), 1, sample_size=16), vae, tokenizer, text_encoder)
    pipe.save_pretrained(folder, safe_serialization=True)
    if bundled:
        settings = {
            "task": "text", "also": ["edit", "image_to_image"], "title": "tiny test LDM", "image_size": 64, "steps": 4,
            "guidance_scale": 3.0,
        }  # fmt: skip
        (folder / "atelier.json").write_text(json.dumps(settings))
    return folder


def save_tiny_inpainting_pipeline(folder: Path) -> Path:
    """A random-weight hub-style StableDiffusionInpaintPipeline: a UNet that also sees the mask and the
    masked image (9 input channels), a CLIP text encoder, no atelier.json, as the hub's SD 2 inpainting is."""
    import torch
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import BertTokenizerFast

    from engines.text_encoder import model_path

    torch.manual_seed(0)
    tokenizer = BertTokenizerFast.from_pretrained(model_path(), model_max_length=16)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=9, out_channels=4, block_out_channels=(32, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=384, attention_head_dim=8, norm_num_groups=8,
    )  # fmt: skip
    pipe = StableDiffusionInpaintPipeline(
        vae=tiny_kl((8, 8, 8), 64),
        text_encoder=tiny_clip(tokenizer, hidden_size=384, intermediate_size=64, max_tokens=16),
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DPMSolverMultistepScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def save_tiny_inpainter(folder: Path, base: Path) -> Path:
    """A bundled inpainting fine-tune (emoji-inpaint's format: a UNet and an atelier.json naming the
    text model whose other parts it uses): the base's UNet widened by the trainer's own code, its new
    mask and masked-image weights random rather than zero, so that they change the fill."""
    import torch
    from diffusers import UNet2DConditionModel

    from training.train_inpaint import inpainting_unet, save_checkpoint

    torch.manual_seed(0)
    unet = inpainting_unet(UNet2DConditionModel.from_pretrained(base / "unet"))
    with torch.no_grad():
        unet.conv_in.weight[:, 4:].normal_(0, 0.2)
    save_checkpoint(unet, folder, base.name, "tiny inpainting fine-tune", steps=4)
    return folder


def save_tiny_denoiser(folder: Path) -> Path:
    """A random-weight denoiser in the exported format (what training/train_denoise.py writes)."""
    import torch

    from engines.nets.upscale import Upscaler

    torch.manual_seed(0)
    Upscaler(channels=8, layers=2, scale=1).eval().save_pretrained(folder)
    (folder / "atelier.json").write_text(json.dumps({"task": "denoise", "title": "tiny test denoiser"}))
    return folder


TINY_SETS = (("noto", "Noto"), ("twemoji", "Twemoji"), ("fluent-3d", "Fluent 3D"))


def randomise_styles(model) -> None:
    """Every set its own random scale and shift (a new translator starts with all sets alike)."""
    import torch

    with torch.no_grad():
        for name, table in model.named_parameters():
            if name.endswith((".scale", ".shift")):
                table.normal_(1.0 if name.endswith(".scale") else 0.0, 0.5)


def save_tiny_translator(folder: Path) -> Path:
    """A random-weight art-set translator in the exported format (what training/train_restyle.py writes)."""
    import torch

    from engines.nets.restyle import Translator

    torch.manual_seed(0)
    names, titles = zip(*TINY_SETS, strict=True)
    model = Translator(names, titles, channels=4, blocks=1, resolution=16).eval()
    randomise_styles(model)
    model.save_pretrained(folder)
    settings = {"task": "restyle", "title": "tiny test translator", "resolution": 16, "paired": False,
                "sets": [list(pair) for pair in TINY_SETS]}  # fmt: skip
    (folder / "atelier.json").write_text(json.dumps(settings))
    return folder


def save_tiny_upscaler(folder: Path) -> Path:
    """A random-weight ×4 upscaler in the exported format (what training/train_upscale.py writes)."""
    import torch

    from engines.nets.upscale import Upscaler

    torch.manual_seed(0)
    Upscaler(channels=8, layers=2).eval().save_pretrained(folder)
    (folder / "atelier.json").write_text(json.dumps({"task": "upscale", "title": "tiny test upscaler"}))
    return folder


def save_tiny_sd_upscaler(folder: Path) -> Path:
    """A random-weight StableDiffusionUpscalePipeline in the hub layout of
    stabilityai/stable-diffusion-x4-upscaler (a 7-channel UNet with a noise-level embedding, a VAE that
    downsamples 4×, a CLIP text encoder), nothing downloaded."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import BertTokenizerFast

    from engines.text_encoder import model_path

    torch.manual_seed(0)
    tokenizer = BertTokenizerFast.from_pretrained(model_path(), model_max_length=16)
    text_encoder = tiny_clip(tokenizer, hidden_size=32, intermediate_size=37, max_tokens=16)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 32),
        layers_per_block=1,
        sample_size=16,
        in_channels=7,  # the noisy latent and the low-resolution image
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        num_class_embeds=351,  # the noise level, 0..max_noise_level
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        scaling_factor=0.08333,
    )
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(num_train_timesteps=1000),
        scheduler=DDIMScheduler(num_train_timesteps=1000, prediction_type="v_prediction"),
        max_noise_level=350,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


TINY_IMAGENET = {0: "tench, Tinca tinca", 1: "goldfish, Carassius auratus", 207: "golden retriever"}


def save_tiny_dit(folder: Path) -> Path:
    """A random-weight DiTPipeline in the hub layout, plus the id2label.json that save_pretrained drops."""
    import torch
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(0)
    transformer = DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,  # learned sigma, as DiT-XL/2
        num_layers=1,
        sample_size=8,
        patch_size=2,
        num_embeds_ada_norm=1000,  # 1000 classes; index 1000 is the null class
        norm_num_groups=32,
    )
    vae = tiny_kl((8, 8), 16)
    DiTPipeline(transformer, vae, DDIMScheduler()).save_pretrained(folder, safe_serialization=True)
    (folder / "id2label.json").write_text(json.dumps(TINY_IMAGENET))
    return folder


@pytest.fixture(scope="session")
def tiny_dit(tmp_path_factory) -> Path:
    return save_tiny_dit(tmp_path_factory.mktemp("dit") / "tiny-dit")


@pytest.fixture(scope="session")
def tiny_sd_upscaler(tmp_path_factory) -> Path:
    return save_tiny_sd_upscaler(tmp_path_factory.mktemp("upscale-hub") / "tiny-sd-x4")


@pytest.fixture(scope="session")
def tiny_hub_text_pipeline(tmp_path_factory) -> Path:
    return save_tiny_text_pipeline(tmp_path_factory.mktemp("text-hub") / "tiny-sd", bundled=False)


@pytest.fixture(scope="session")
def tiny_inpainting_pipeline(tmp_path_factory) -> Path:
    return save_tiny_inpainting_pipeline(tmp_path_factory.mktemp("inpaint-hub") / "tiny-sd-inpainting")


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """A checkpoints/ folder holding one tiny model per task, in the bundled format."""
    root = tmp_path_factory.mktemp("checkpoints")
    save_tiny_autoencoder_kl(root / "tiny-vae", bundled=True)
    save_tiny_generator(root / "tiny-gan")
    save_tiny_style_generator(root / "tiny-stylegan")
    save_tiny_generator(root / "tiny-cgan", labels=TINY_LABELS, titles=TINY_TITLES)
    save_tiny_generator(root / "tiny-cgan-subjects", labels=TINY_LABELS | TINY_SUBJECTS, drawn=TINY_DRAWN)
    save_tiny_inpainter(root / "tiny-inpaint", save_tiny_text_pipeline(root / "tiny-ldm", bundled=True))
    save_tiny_upscaler(root / "tiny-upscale")
    save_tiny_denoiser(root / "tiny-denoise")
    save_tiny_translator(root / "tiny-restyle")
    return root


@pytest.fixture(scope="session")
def tiny_hub_vaes(tmp_path_factory) -> dict[str, Path]:
    """Hub-style VAEs (no atelier.json) saved to folders: used by local path, as a hub repo would be."""
    root = tmp_path_factory.mktemp("hub")
    return {
        "kl": save_tiny_autoencoder_kl(root / "tiny-kl", bundled=False, sample_size=32),
        "tiny": save_tiny_autoencoder_tiny(root / "tiny-taesd"),
    }


@pytest.fixture
def engines(tiny_checkpoints):
    import torch

    from engines import create_engines
    from engines.registry import Registry
    from engines.runtime import Runtime

    return create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))


@pytest.fixture
def gallery(tmp_path):
    from gallery import Gallery

    g = Gallery(tmp_path / "gallery")
    yield g
    g.close()


@pytest.fixture
def sample_png(tmp_path) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (80, 60), "white")
    ImageDraw.Draw(image).ellipse((10, 5, 70, 55), fill=(250, 200, 40), outline=(90, 60, 0), width=3)
    path = tmp_path / "smiley.png"
    image.save(path)
    return path
