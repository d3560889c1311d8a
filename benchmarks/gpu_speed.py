"""The hub models' speed, on random weights of their real architectures: the same speed as the
trained weights, with nothing downloaded (this project's machines have no internet).

    python -m benchmarks.gpu_speed                        # on a CUDA machine: both tables, fp16 and fp32
    python -m benchmarks.gpu_speed --device cpu --size 64 --steps 1 --repeats 1 --dtypes float32   # smoke run

- SD-Turbo (the SD 2.1 UNet, 865M parameters; an OpenCLIP-H-sized text encoder; the SD VAE) at
  512², guidance 0, 1 and 4 steps: seconds per image end to end, fp16 against fp32, and the
  engine (`engines.text.draw`, as the tab calls it) against the bare diffusers call.
- DiT-XL/2 (675M parameters) at 256², guidance 4 (so each step runs the batch twice): steps per
  second, fp16 against fp32, engine against bare `DiTPipeline`.

The pipelines are saved to a temporary folder and loaded by the engines as a bundled model, so
the engine rows include everything the tab does except the gallery write.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.registry import Registry
from engines.runtime import Runtime

PROMPT = "a sleepy cat with a party hat"
TEXT_BATCH = 4
DIT_BATCH, DIT_STEPS, DIT_GUIDANCE = 4, 25, 4.0


def sd_vae(size: int):
    from diffusers import AutoencoderKL

    return AutoencoderKL(  # Stable Diffusion's VAE (83M parameters), 8x downsampling
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=size,
    )


def save_sd_turbo_architecture(folder: Path, size: int) -> Path:
    """stabilityai/sd-turbo's architecture with random weights; MiniLM's tokenizer stands in for
    CLIP's (no vocabulary file offline), padded to CLIP's 77 tokens, so the work is the same."""
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import BertTokenizerFast, CLIPTextConfig, CLIPTextModel

    from engines.text_encoder import model_path

    torch.manual_seed(0)
    tokenizer = BertTokenizerFast.from_pretrained(model_path(), model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(  # OpenCLIP ViT-H/14's text tower, as SD 2.x uses it (23 of its 24 layers)
            vocab_size=49408,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            max_position_embeddings=77,
            hidden_act="gelu",
            projection_dim=1024,
        )
    )
    unet = UNet2DConditionModel(  # SD 2.1's UNet
        sample_size=size // 8,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        layers_per_block=2,
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
    )
    scheduler = EulerAncestralDiscreteScheduler(  # sd-turbo's scheduler config
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing"
    )
    pipe = StableDiffusionPipeline(
        sd_vae(size), text_encoder, tokenizer, unet, scheduler, None, None, requires_safety_checker=False
    )
    out = folder / "sd-turbo-architecture"
    pipe.save_pretrained(out, safe_serialization=True)
    settings = {"task": "text", "title": "SD-Turbo architecture, random weights", "image_size": size}
    (out / "atelier.json").write_text(json.dumps(settings | {"steps": 1, "guidance_scale": 0.0}))
    return out


def save_dit_architecture(folder: Path, size: int) -> Path:
    """facebook/DiT-XL-2-256's architecture with random weights (1,000 classes by number)."""
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(0)
    transformer = DiTTransformer2DModel(  # DiT-XL/2
        num_attention_heads=16,
        attention_head_dim=72,
        in_channels=4,
        out_channels=8,
        num_layers=28,
        sample_size=size // 8,
        patch_size=2,
        num_embeds_ada_norm=1000,
    )
    out = folder / "dit-xl-2-architecture"
    DiTPipeline(transformer, sd_vae(size), DDIMScheduler()).save_pretrained(out, safe_serialization=True)
    return out


def text_rows(folder: Path, dtypes: list[torch.dtype], device: torch.device, steps_list, repeats: int) -> list:
    rows = []
    for dtype in dtypes:
        engines = create_engines(Registry(folder), Runtime(device, dtype))
        loaded, _ = engines.text.load("sd-turbo-architecture")
        pipe, size = loaded.model, loaded.defaults["image_size"]
        for steps in steps_list:

            def bare(steps=steps, pipe=pipe, size=size) -> None:
                pipe(
                    [PROMPT] * TEXT_BATCH,
                    num_inference_steps=steps,
                    guidance_scale=0.0,
                    height=size,
                    width=size,
                    generator=torch.Generator("cpu").manual_seed(0),
                )
                sync(device)

            def engine(steps=steps, engines=engines) -> None:
                draw = engines.text.draw
                draw(PROMPT, "", 0, TEXT_BATCH, steps, 0.0, "model default", "sd-turbo-architecture", lambda p: None)
                sync(device)

            bare_s, engine_s = median_seconds(bare, repeats, warmup=1), median_seconds(engine, repeats, warmup=1)
            what = f"SD-Turbo arch., {TEXT_BATCH} images {size}², {steps} step{'s' * (steps > 1)}, {name(dtype)}"
            rows.append({"what": f"{what}: bare", "median s": bare_s, "s per image": bare_s / TEXT_BATCH})
            rows.append({"what": f"{what}: engine", "median s": engine_s, "s per image": engine_s / TEXT_BATCH})
            rows[-1]["engine / bare"] = rows[-2]["engine / bare"] = engine_s / bare_s
        del engines, loaded, pipe
        free(device)
    return rows


def dit_rows(folder: Path, dtypes: list[torch.dtype], device: torch.device, steps: int, repeats: int) -> list:
    rows = []
    for dtype in dtypes:
        engines = create_engines(Registry(folder), Runtime(device, dtype))
        loaded, _ = engines.dit.load(str(folder / "dit-xl-2-architecture"))
        pipe = loaded.model
        pipe.set_progress_bar_config(disable=True)

        def bare(pipe=pipe) -> None:
            pipe(
                class_labels=[207] * DIT_BATCH,
                guidance_scale=DIT_GUIDANCE,
                num_inference_steps=steps,
                generator=torch.Generator("cpu").manual_seed(0),
            )
            sync(device)

        def engine(engines=engines) -> None:
            engines.dit.draw("class 207", 0, DIT_BATCH, steps, DIT_GUIDANCE, str(folder / "dit-xl-2-architecture"))
            sync(device)

        bare_s, engine_s = median_seconds(bare, repeats, warmup=1), median_seconds(engine, repeats, warmup=1)
        what = f"DiT-XL/2 arch., {DIT_BATCH} images, {steps} DPM-Solver steps, guidance {DIT_GUIDANCE}, {name(dtype)}"
        for label, seconds in (("bare", bare_s), ("engine", engine_s)):
            rows.append(
                {"what": f"{what}: {label}", "median s": seconds, "steps/s": steps / seconds, "engine / bare": 0.0}
            )
        rows[-1]["engine / bare"] = rows[-2]["engine / bare"] = engine_s / bare_s
        del engines, loaded, pipe
        free(device)
    return rows


def name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def free(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", default="float16,float32")
    parser.add_argument("--size", type=int, default=512, help="SD-Turbo's side; DiT runs at half of it")
    parser.add_argument("--steps", default="1,4", help="SD-Turbo step counts")
    parser.add_argument("--dit-steps", type=int, default=DIT_STEPS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("text", "dit"), default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtypes = [getattr(torch, d) for d in args.dtypes.split(",")]
    with tempfile.TemporaryDirectory(prefix="gpu-speed-") as tmp:  # ~7 GB of random weights
        folder = Path(tmp)
        if args.only in (None, "text"):
            save_sd_turbo_architecture(folder, args.size)
            steps_list = [int(s) for s in args.steps.split(",")]
            report("gpu_speed_text", text_rows(folder, dtypes, device, steps_list, args.repeats))
        if args.only in (None, "dit"):
            save_dit_architecture(folder, args.size // 2)
            report("gpu_speed_dit", dit_rows(folder, dtypes, device, args.dit_steps, args.repeats))


if __name__ == "__main__":
    main()
