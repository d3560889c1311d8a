"""Train the emoji VAE: a diffusers AutoencoderKL, 64x64x3 -> 4x16x16 latents.

    python -m training.train_vae                      # train (resumes from runs/vae/last.pt)
    python -m training.train_vae --steps 4000         # train longer, same run
    python -m training.train_vae --export-only        # write checkpoints/emoji-vae from the last run

Why a downsampling factor of 4 (3 encoder blocks) and 4 latent channels: the text model
(issue 5) runs its UNet on these latents. A 16x16 grid keeps enough spatial room for an
emoji's eyes, mouth and outline, and 4x16x16 = 1,024 numbers against 12,288 pixel values is a
12x compression, close to Stable Diffusion's 48x at 8x downsampling with 4 channels yet still
roomy enough to be sharp on flat-coloured art. A factor of 8 would leave 4x8x8, about one latent
cell per eye or mouth: too coarse for faces, the most common subject (not trained here; a reasoned choice).

Loss: L1 + 0.5 (1 - SSIM) + a small KL. SSIM keeps edges and flat regions crisp where L1
alone smears them; there is no offline LPIPS network here, so SSIM is the perceptual term.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from engines.base import pil_batch, tensor_batch
from engines.imaging import image_grid
from engines.metrics import psnr, ssim
from training import data as emoji_data
from training.run_state import choose_device, load_run, save_run

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "runs" / "vae"
EXPORT_DIR = ROOT / "checkpoints" / "emoji-vae"
IMAGE_SIZE = 64
BATCH_SIZE = 32
LEARNING_RATE = 2e-4
WARMUP_STEPS = 100
TOTAL_STEPS = 2600  # cosine schedule length; --steps overrides
KL_WEIGHT = 2e-7  # on the per-image KL sum; keeps latents near N(0, I) scale without blurring
SSIM_WEIGHT = 0.5
SAMPLE_EVERY = 200
CHECKPOINT_EVERY = 100
SEED = 0
VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    block_out_channels=(32, 64, 128),
    layers_per_block=1,
    norm_num_groups=32,
    sample_size=IMAGE_SIZE,
)
# ---------------------------------------------------------------------------------------


def learning_rate(step: int, total: int) -> float:
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    progress = min(1.0, (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS))
    return LEARNING_RATE * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(vae, images: torch.Tensor, batch: int = 128) -> dict[str, float]:
    """Held-out PSNR / SSIM of deterministic reconstructions (posterior mode), plus latent stats."""
    vae.eval()
    scores_psnr, scores_ssim, latents = [], [], []
    for i in range(0, len(images), batch):
        x = images[i : i + batch]
        z = vae.encode(x).latent_dist.mode()
        y = vae.decode(z).sample.clamp(-1, 1)
        scores_psnr.append(psnr((x + 1) / 2, (y + 1) / 2))
        scores_ssim.append(ssim((x + 1) / 2, (y + 1) / 2))
        latents.append(z)
    vae.train()
    z = torch.cat(latents)
    return {
        "psnr": torch.cat(scores_psnr).mean().item(),
        "ssim": torch.cat(scores_ssim).mean().item(),
        "latent_mean": z.mean((0, 2, 3)).tolist(),
        "latent_std": z.std((0, 2, 3)).tolist(),
        "latent_global_std": z.std().item(),
    }


def sample_grid(vae, fixed: torch.Tensor) -> Image.Image:
    """Originals (odd rows) over reconstructions (even rows), 8 per row."""
    vae.eval()
    with torch.no_grad():
        recon = vae.decode(vae.encode(fixed).latent_dist.mode()).sample
    vae.train()
    originals, recons = pil_batch(fixed), pil_batch(recon)
    rows = []
    for i in range(0, len(originals), 8):
        rows += originals[i : i + 8] + recons[i : i + 8]
    return image_grid(rows, 8)


@torch.no_grad()
def prior_grid(vae, metrics: dict, count: int = 32) -> Image.Image:
    """Decodes of latents drawn from the fitted per-channel Gaussian (what the app's "sample" does)."""
    vae.eval()
    mean = torch.tensor(metrics["latent_mean"])[None, :, None, None]
    std = torch.tensor(metrics["latent_std"])[None, :, None, None]
    noise = torch.randn(count, 4, IMAGE_SIZE // 4, IMAGE_SIZE // 4, generator=torch.Generator().manual_seed(SEED))
    device = next(vae.parameters()).device
    return image_grid(pil_batch(vae.decode((mean + std * noise).to(device)).sample), 8)


def export(vae, metrics: dict, meta: dict, out_dir: Path = EXPORT_DIR) -> None:
    """save_pretrained (safetensors + config) plus atelier.json, which makes the registry list it."""
    # Latents are scaled by 1/std before diffusion, as in Stable Diffusion (scaling_factor).
    vae.register_to_config(scaling_factor=round(1.0 / metrics["latent_global_std"], 5))
    vae.save_pretrained(out_dir, safe_serialization=True)
    settings = {
        "task": "vae",
        "title": "Emoji VAE (bundled, 64×64 → 4×16×16)",
        "image_size": IMAGE_SIZE,
        # The per-channel Gaussian of the training latents: "sample from the prior" draws from it.
        "latent_mean": [round(v, 5) for v in metrics["latent_mean"]],
        "latent_std": [round(v, 5) for v in metrics["latent_std"]],
    }
    (out_dir / "atelier.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "training_metrics.json").write_text(json.dumps({**metrics, **meta}, indent=2) + "\n")
    print(f"exported to {out_dir}")


def write_vae_card(out_dir: Path, metrics: dict, meta: dict, parameters: int) -> None:
    from training.model_card import write_card

    latent = IMAGE_SIZE // 2 ** (len(VAE_CONFIG["block_out_channels"]) - 1)
    write_card(
        out_dir,
        title="Emoji VAE",
        summary=(
            f"A `diffusers.AutoencoderKL` ({parameters / 1e6:.1f}M parameters) that encodes 64×64 RGB emoji art into "
            f"4×{latent}×{latent} latents and back. It is Atelier's bundled VAE, and the text model (emoji-ldm) "
            "draws in its latent space. Top: held-out originals over their reconstructions (odd rows / even rows). "
            "Bottom: decodes of "
            "latents drawn from the per-channel Gaussian fitted to the training latents (what the VAE tab's "
            "*Sample* does). They are confetti of emoji colours and strokes, not emoji: with a small KL weight the "
            "latents are far from independent Gaussians, so independent draws miss the structure of real images. "
            "Making new images is the GAN's job; the VAE's is faithful reconstruction."
        ),
        figures={
            f"held-out PSNR ({meta['heldout_images']} images)": f"{metrics['psnr']:.2f} dB",
            "held-out SSIM": f"{metrics['ssim']:.4f}",
            "latent shape": f"4×{latent}×{latent} (12× fewer numbers than pixels)",
            "scaling factor (1 / latent std)": f"{1 / metrics['latent_global_std']:.4f}",
            "training": f"{meta['steps']} steps × batch {meta['batch_size']}, {meta['train_minutes']} min on "
            f"{meta['device']} ({os.cpu_count()} cores)"
            if meta["device"] == "cpu"
            else meta["device"],
            "training images": f"{meta['train_images']} (held out: {meta['heldout_images']}, by emoji)",
        },
        command="python -m training.data\npython -m training.train_vae            # resumable\n"
        "python -m training.train_vae --export-only",
        grids={
            "held-out originals over reconstructions": "reconstructions.png",
            "decodes of prior samples": "prior_samples.png",
        },
        details=(
            "Loss: L1 + 0.5·(1 − SSIM) + 2e-7·KL (per-image KL sum). SSIM is the perceptual term, since no "
            "offline LPIPS network exists here; it keeps outlines and flat fills crisp where L1 alone smears "
            "them. AdamW, learning rate 2e-4 with warm-up and cosine decay, random horizontal flips. "
            "Why 4× downsampling: the text model's UNet works on these latents, and a 16×16 grid keeps room for "
            "eyes, mouths and outlines, where 8× (4×8×8) would leave about one latent cell per eye (a reasoned "
            "choice, not an ablation run here)."
        ),
        tags=("vae", "autoencoder", "emoji"),
    )


def main(argv: list[str] | None = None) -> None:
    from diffusers import AutoencoderKL

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=TOTAL_STEPS)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR)
    parser.add_argument("--out", type=Path, default=EXPORT_DIR)
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    args = parser.parse_args(argv)

    torch.manual_seed(SEED)
    device = choose_device()
    train = tensor_batch(emoji_data.load(IMAGE_SIZE, "train", data_dir=args.data_dir)["images"])
    heldout = tensor_batch(emoji_data.load(IMAGE_SIZE, "heldout", data_dir=args.data_dir)["images"])
    fixed = heldout[torch.linspace(0, len(heldout) - 1, 32).long()]

    vae = AutoencoderKL(**VAE_CONFIG).to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(vae.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    parts = {"model": vae, "optimizer": opt}
    step, elapsed, _, _ = load_run(args.run_dir, parts, device)

    def save() -> None:
        save_run(args.run_dir, parts, step, elapsed)

    def finish() -> None:
        metrics = evaluate(vae, heldout.to(device))
        meta = {
            "steps": step,
            "train_minutes": round(elapsed / 60, 1),
            "device": str(device),
            "batch_size": BATCH_SIZE,
            "train_images": len(train),
            "heldout_images": len(heldout),
        }
        print(json.dumps(metrics))
        export(vae, metrics, meta, args.out)
        sample_grid(vae, fixed.to(device)).save(args.out / "reconstructions.png")
        prior_grid(vae, metrics).save(args.out / "prior_samples.png")
        write_vae_card(args.out, metrics, meta, sum(p.numel() for p in vae.parameters()))

    if args.export_only:
        finish()
        return

    generator = torch.Generator().manual_seed(SEED + step)
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc="vae", dynamic_ncols=True)
    while step < args.steps:
        idx = torch.randint(len(train), (BATCH_SIZE,), generator=generator)
        x = train[idx]
        flip = torch.rand(BATCH_SIZE, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x).to(device, memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps)
        posterior = vae.encode(x).latent_dist
        y = vae.decode(posterior.sample()).sample
        l1 = (y - x).abs().mean()
        ssim_loss = 1 - ssim((x + 1) / 2, (y.clamp(-1, 1) + 1) / 2).mean()
        kl = posterior.kl().mean()
        loss = l1 + SSIM_WEIGHT * ssim_loss + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed = time.time() - started
        bar.update(1)
        bar.set_postfix(l1=f"{l1.item():.4f}", ssim=f"{1 - ssim_loss.item():.3f}", kl=f"{kl.item():.0f}")
        if step % CHECKPOINT_EVERY == 0:
            save()
        if step % SAMPLE_EVERY == 0:
            sample_grid(vae, fixed.to(device)).save(args.run_dir / f"samples-{step:06d}.png")
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    save()
    finish()


if __name__ == "__main__":
    main()
