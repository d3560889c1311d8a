"""Train the emoji feature network the quality harness measures with (a miniature CLIP).

    python -m training.train_features                  # emoji train split, resumes from runs/features
    python -m training.train_features --export-only    # write checkpoints/emoji-features from the run

The image encoder learns to point at its caption's MiniLM embedding among every training
caption (InfoNCE with a learned temperature; MiniLM stays frozen, so captions it never saw
still have a place in the space), and to name the art style and emoji group. No flips or colour
jitter: "left arrow" and "red heart" must stay what they say. Small shifts only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from engines.base import tensor_batch
from engines.imaging import image_grid
from engines.nets.features import EmojiEncoder
from engines.text_encoder import shared_minilm
from training import data as emoji_data
from training.run_state import choose_device, load_run, save_run

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
RESOLUTION = 64
BATCH_SIZE = 128
STEPS = 1200
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 0.05
WARMUP_STEPS = 50
SHIFT = 4  # pixels of random translation (padding is white, like the images)
CHECKPOINT_EVERY = 100
SEED = 0
# ---------------------------------------------------------------------------------------


def caption_ids(captions: np.ndarray) -> tuple[list[str], torch.Tensor]:
    """Unique captions (one per emoji: every style of an emoji shares it) and each image's index."""
    unique, inverse = np.unique(captions, return_inverse=True)
    return list(unique), torch.from_numpy(inverse).long()


def random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    padded = F.pad(x, [SHIFT] * 4, value=1.0)  # white
    dy = torch.randint(0, 2 * SHIFT + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * SHIFT + 1, (n,), generator=generator)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def learning_rate(step: int, total: int) -> float:
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    return LEARNING_RATE * 0.5 * (1 + np.cos(np.pi * min(1.0, (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS))))


@torch.no_grad()
def encode_images(model: EmojiEncoder, images: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
    """Every output of the model for a stack of images, in batches, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    outs = [model(images[i : i + batch].to(device)) for i in range(0, len(images), batch)]
    return {k: torch.cat([o[k] for o in outs]).float().cpu() for k in outs[0]}


def retrieval_accuracy(embeddings: torch.Tensor, targets: torch.Tensor, bank: torch.Tensor, k: int) -> float:
    """How often the right caption (index into bank) is among an image's k nearest captions."""
    top = (embeddings @ bank.T).topk(min(k, len(bank)), dim=1).indices
    return (top == targets[:, None]).any(1).float().mean().item()


@torch.no_grad()
def evaluate(model: EmojiEncoder, split: dict[str, np.ndarray]) -> dict[str, float]:
    """Held-out figures: caption retrieval among the split's own captions, style and category accuracy."""
    captions, targets = caption_ids(split["caption"])
    bank = shared_minilm().embed(captions).cpu()
    out = encode_images(model, tensor_batch(split["images"]))
    return {
        "caption_top1": retrieval_accuracy(out["embedding"], targets, bank, 1),
        "caption_top5": retrieval_accuracy(out["embedding"], targets, bank, 5),
        "captions": len(captions),
        "style_accuracy": (out["style_logits"].argmax(1) == torch.from_numpy(split["style"])).float().mean().item(),
        "category_accuracy": (out["category_logits"].argmax(1) == torch.from_numpy(split["category"]))
        .float()
        .mean()
        .item(),
        "images": len(targets),
    }


@torch.no_grad()
def neighbours_grid(model: EmojiEncoder, heldout: dict, train: dict, rows: int = 8, k: int = 7) -> Image.Image:
    """Each row: a held-out image, then its k nearest training images in feature space. A glance
    tells whether the features see shapes and meaning or only colour."""
    query_idx = np.linspace(0, len(heldout["images"]) - 1, rows).astype(int)
    q = F.normalize(encode_images(model, tensor_batch(heldout["images"][query_idx]))["features"], dim=1)
    t = F.normalize(encode_images(model, tensor_batch(train["images"]))["features"], dim=1)
    nearest = (q @ t.T).topk(k, dim=1).indices
    tiles = []
    for row, i in enumerate(query_idx):
        tiles.append(Image.fromarray(heldout["images"][i]))
        tiles += [Image.fromarray(train["images"][j]) for j in nearest[row].tolist()]
    return image_grid(tiles, k + 1)


def export(model: EmojiEncoder, out_dir: Path, metrics: dict, meta: dict, grid: Image.Image) -> None:
    from training.model_card import write_card

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    settings = {"task": "features", "title": "Emoji feature network (quality harness)"}
    (out_dir / "atelier.json").write_text(json.dumps(settings, indent=2) + "\n")
    (out_dir / "training_metrics.json").write_text(json.dumps({**meta, "heldout": metrics}, indent=2) + "\n")
    grid.save(out_dir / "neighbours.png")
    parameters = sum(p.numel() for p in model.parameters())
    write_card(
        out_dir,
        title=settings["title"],
        summary=(
            f"A small residual CNN ({parameters / 1e6:.1f}M parameters, 64×64 RGB → 256-d features) trained on the "
            "emoji train split. It is Atelier's stand-in for the Inception network of FID: `python -m "
            "benchmarks.quality` measures every bundled model in its feature space. Its `embed` head is aligned "
            "contrastively with the frozen MiniLM (all-MiniLM-L6-v2) embeddings of the captions — a miniature CLIP "
            "for emoji — and two heads name the art style and the emoji group."
        ),
        figures={
            "held-out images": str(metrics["images"]),
            f"caption top-1 (among {metrics['captions']} held-out captions)": f"{metrics['caption_top1']:.3f}",
            "caption top-5": f"{metrics['caption_top5']:.3f}",
            "style accuracy (4 sets)": f"{metrics['style_accuracy']:.3f}",
            "category accuracy (8 groups)": f"{metrics['category_accuracy']:.3f}",
            "chance (top-1 retrieval / style / category)": f"{1 / metrics['captions']:.3f} / 0.25 / 0.125",
            "training": f"{meta['steps']} steps × batch {meta['batch_size']}, {meta['train_minutes']} min on "
            f"{meta['device']}",
        },
        command=meta["command"],
        grids={"held-out emoji (left) and their 7 nearest training images in feature space": "neighbours.png"},
        details=(
            "Held-out emoji are emoji the network never saw in any style, so caption retrieval is zero-shot: the "
            "network must place an unseen emoji near the MiniLM embedding of a caption it never trained on. "
            "Loss: InfoNCE over all training captions + cross-entropy for style and category. AdamW, learning rate "
            f"{LEARNING_RATE} with warm-up and cosine decay, random shifts of up to {SHIFT} pixels."
        ),
        tags=("feature-extractor", "clip", "emoji"),
    )
    print(f"exported to {out_dir}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "features")
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "emoji-features")
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args(argv)

    torch.manual_seed(SEED)
    device = choose_device()
    train = emoji_data.load(RESOLUTION, "train", data_dir=args.data_dir)
    heldout = emoji_data.load(RESOLUTION, "heldout", data_dir=args.data_dir)
    captions, targets = caption_ids(train["caption"])
    bank = shared_minilm(str(device)).embed(captions)  # [C, 384], fixed: MiniLM is frozen
    images = tensor_batch(train["images"])
    styles, categories = torch.from_numpy(train["style"]), torch.from_numpy(train["category"])

    model = EmojiEncoder(
        RESOLUTION, style_names=tuple(train["style_names"]), category_names=tuple(train["category_names"])
    ).to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    parts = {"model": model, "optimizer": opt}
    step, elapsed, _, _ = load_run(args.run_dir, parts, device)

    def save() -> None:
        save_run(args.run_dir, parts, step, elapsed)

    generator = torch.Generator().manual_seed(SEED + step)
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc="features", dynamic_ncols=True, disable=args.export_only)
    while step < args.steps and not args.export_only:
        model.train()
        idx = torch.randint(len(images), (BATCH_SIZE,), generator=generator)
        x = random_shift(images[idx], generator).to(device, memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps)
        out = model(x)
        scale = model.logit_scale.clamp(max=np.log(100)).exp()
        caption_loss = F.cross_entropy(scale * out["embedding"] @ bank.T, targets[idx].to(device))
        style_loss = F.cross_entropy(out["style_logits"], styles[idx].to(device))
        category_loss = F.cross_entropy(out["category_logits"], categories[idx].to(device))
        loss = caption_loss + style_loss + category_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        elapsed = time.time() - started
        bar.update(1)
        bar.set_postfix(caption=f"{caption_loss.item():.3f}", style=f"{style_loss.item():.3f}")
        if step % CHECKPOINT_EVERY == 0:
            save()
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    if not args.export_only:
        save()
    metrics = evaluate(model, heldout)
    print(json.dumps(metrics))
    meta = {
        "steps": step,
        "batch_size": BATCH_SIZE,
        "train_minutes": round(elapsed / 60, 1),
        "device": str(device),
        "train_images": len(images),
        "command": f"python -m training.train_features --steps {args.steps}",
    }
    export(model.cpu(), args.out, metrics, meta, neighbours_grid(model, heldout, train))


if __name__ == "__main__":
    main()
