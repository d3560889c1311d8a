"""Quality harness: how good is every bundled model, measured against real held-out emoji art.

    python -m benchmarks.quality                  # every bundled model; table + results/quality.json
    python -m benchmarks.quality --update-cards   # ... and write the table into each model card
    python -m benchmarks.quality --checkpoints runs/ablation --name ablation   # compare training choices

There is no offline Inception network, so FID's formula runs in the feature space of the
project's own feature network (checkpoints/emoji-features, `python -m training.train_features`).
Every figure is printed next to what real art scores, so numbers read on their own:

- feature network: held-out caption retrieval (top-1/top-5), style and category accuracy;
- GAN: Fréchet distance between generated samples (seeds 0..N-1) and the held-out images, beside
  the floor (N real training images against the same held-out images), and k-NN precision /
  recall (fidelity / diversity), at psi = 1 and at a truncated psi. Real art is resized to the
  generator's resolution first, so a 32x32 GAN is judged against 32x32 art;
- VAE: PSNR and SSIM of held-out reconstructions;
- translator (Restyle): every held-out emoji that every art set draws, redrawn from each set into
  each other: PSNR, SSIM and feature distance to the true target (the same emoji as that set draws
  it) beside the untouched source's, the target set as the style head reads it, and the emoji's
  caption still retrieved, beside real art; the text model's image-to-image measured the same way;
- text model: each held-out caption drawn once should retrieve its own caption among all held-out
  captions (top-1 / top-5, beside real held-out art), the same for prompts in no caption,
  whether a prompt naming an art set ("..., noto style") is drawn in it (beside real art's style
  accuracy), and whether a prompt naming a colour ("blue grinning face") is drawn in it (beside
  how often that colour comes without the word).

Seeds, sample counts and the real subset are fixed, so figures compare run to run.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from benchmarks.common import machine, report
from engines import Engines, create_engines
from engines.base import tensor_batch
from engines.gan import styled
from engines.limits import MAX_STRENGTH
from engines.metrics import coverage, frechet_distance, precision_recall, psnr, ssim
from engines.nets.features import EmojiEncoder
from engines.registry import ModelSpec, Registry
from engines.vae import decode, encode
from training import data as emoji_data
from training.colours import COLOURS, colour_name, without_colours
from training.model_card import put_section
from training.train_features import caption_ids, encode_images, retrieval_accuracy
from training.train_ldm import style_phrase

MIXED_PAIRS = 512  # seed pairs each style-mixing preset mixes (row seeds 0..511, column seeds 512..1023)
UPSCALED_CAPTIONS = 128  # held-out captions the text model draws for the upscaler's realism rows
SAMPLES = 2048  # generated images per GAN setting (and real training images for the floor)
TRUNCATED_PSI = 0.7
NEIGHBOURS = 3  # k of the k-NN manifolds
REAL_SUBSET_SEED = 0
# Prompts in no caption: does the text model compose, or only recall?
STYLE_PROMPTS = 16  # held-out captions drawn in each art set, the set named in the prompt
COLOUR_PROMPTS = 16  # held-out labels drawn in each chromatic colour ("blue grinning face")
I2I_EMOJI, I2I_STRENGTHS = 24, (0.4, 0.7)  # the text model's image-to-image: emoji × 12 pairs, and strengths
NOVEL_PROMPTS = ["a blue pizza", "a cat astronaut", "a sleepy cat with a party hat", "a green heart", "a purple banana"]


class Harness:
    def __init__(self, engines: Engines, samples: int = SAMPLES, data_dir: Path = emoji_data.DATA_DIR):
        self.engines, self.samples, self.data_dir = engines, samples, data_dir
        # the feature network from the measured folder, else the bundled one (ablation folders hold GANs only)
        spec = next(iter(engines.registry.bundled("features") + Registry().bundled("features")), None)
        if spec is None:
            raise SystemExit("no feature network in checkpoints/: python -m training.train_features")
        self.feature_spec = spec
        self.measured: dict[str, ModelSpec] = {}
        self.feature_net = EmojiEncoder.from_pretrained(spec.location).eval().requires_grad_(False)
        self.train = emoji_data.load(64, "train", data_dir=data_dir)
        self.heldout = emoji_data.load(64, "heldout", data_dir=data_dir)
        picks = np.random.default_rng(REAL_SUBSET_SEED).choice(
            len(self.train["images"]), min(samples, len(self.train["images"])), replace=False
        )
        self.train_subset = tensor_batch(self.train["images"][np.sort(picks)])
        self.heldout_images = tensor_batch(self.heldout["images"])
        self.real_heldout = self.encode(self.heldout_images)
        self.captions, self.caption_targets = caption_ids(self.heldout["caption"])
        self._reals: dict[int, tuple[dict, dict]] = {}

    @functools.cached_property
    def caption_bank(self) -> torch.Tensor:
        """MiniLM embeddings of the unique held-out captions (loaded only when captions are measured)."""
        from engines.text_encoder import shared_minilm

        return shared_minilm().embed(self.captions).cpu()

    @functools.cached_property
    def real_caption_retrieval(self) -> tuple[float, float]:
        """(top-1, top-5): how often real held-out art retrieves its own caption among all held-out captions."""
        embedding = self.real_heldout["embedding"]
        return tuple(retrieval_accuracy(embedding, self.caption_targets, self.caption_bank, k) for k in (1, 5))

    def reals(self, resolution: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(training subset, held-out) features with the real art at a generator's resolution, so a
        32x32 GAN is compared with 32x32 real art, not penalised for resolution alone."""
        if resolution not in self._reals:
            self._reals[resolution] = (
                self.encode(resize(self.train_subset, resolution)),
                self.encode(resize(self.heldout_images, resolution)),
            )
        return self._reals[resolution]

    def encode(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return encode_images(self.feature_net, images)

    def distribution_rows(
        self, model: str, setting: str, fake: dict[str, torch.Tensor], resolution: int = 64
    ) -> list[dict[str, Any]]:
        """Fréchet distance and precision/recall against held-out art, each beside real training art."""
        floor, real = (r["features"] for r in self.reals(resolution))
        fd, fd_floor = frechet_distance(fake["features"], real), frechet_distance(floor, real)
        precision, recall = precision_recall(fake["features"], real, NEIGHBOURS)
        real_precision, real_recall = precision_recall(floor, real, NEIGHBOURS)
        covered, real_covered = coverage(fake["features"], real, NEIGHBOURS), coverage(floor, real, NEIGHBOURS)
        n = len(fake["features"])
        return [
            row(model, f"Fréchet distance ({setting}, {n} samples)", fd, fd_floor),
            row(model, f"precision ({setting})", precision, real_precision),
            row(model, f"recall ({setting})", recall, real_recall),
            row(model, f"coverage ({setting})", covered, real_covered),
        ]

    def feature_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        out, n = self.real_heldout, len(self.captions)
        top1, top5 = self.real_caption_retrieval
        return [
            row(spec.id, f"caption top-1 among {n} held-out", top1, f"chance {1 / n:.3f}"),
            row(spec.id, "caption top-5", top5, f"chance {5 / n:.3f}"),
            row(spec.id, "style accuracy", accuracy(out["style_logits"], self.heldout["style"]), "chance 0.250"),
            row(
                spec.id, "category accuracy", accuracy(out["category_logits"], self.heldout["category"]), "chance 0.125"
            ),
        ]

    def gan_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        from engines.limits import MAX_GRID

        loaded, _ = self.engines.gan.load(spec.id)
        rows = []
        for psi in (1.0, TRUNCATED_PSI):
            images = []
            for seed in range(0, self.samples, MAX_GRID):  # seeds 0..N-1, through the engine
                count = min(MAX_GRID, self.samples - seed)
                images += [np.asarray(g.image) for g in self.engines.gan.sample(seed, count, psi, spec.id)]
            fake = self.encode(tensor_batch(np.stack(images)))
            rows += self.distribution_rows(spec.id, f"ψ = {psi:g}", fake, loaded.model.resolution)
        if styled(loaded.model):
            rows += self.mixing_rows(spec, loaded)
        return rows

    def mixing_rows(self, spec: ModelSpec, loaded) -> list[dict[str, Any]]:
        """Do the styles separate? MIXED_PAIRS pairs of seeds mixed at each preset's switch (the row seed
        drives the layers before it, the column seed the rest): how often the feature network's
        category and art-set heads (and the main colour read from its pixels) give the mixed image the row
        seed's class, and how often the column seed's, beside how often two unmixed images of the pairs
        share it by chance."""
        from ui.mixing import crossover_presets

        gan, layers = self.engines.gan, loaded.model.layer_sizes()
        w = gan.styles(loaded, list(range(2 * MIXED_PAIRS)), 1.0)
        w_row, w_column = w[:MIXED_PAIRS], w[MIXED_PAIRS:]

        def heads(images: list) -> dict[str, torch.Tensor]:
            pixels = np.stack([np.asarray(i) for i in images])
            out = self.encode(tensor_batch(pixels))
            # the main colour is read from the pixels, as the text model's colour words are checked
            colours = [COLOURS.index(c) if c else -1 for c in map(colour_name, pixels)]
            return {name: out[f"{name}_logits"].argmax(1) for name in ("category", "style")} | {
                "colour": torch.tensor(colours)
            }

        alone = {"row": heads(gan.synthesise(loaded, w_row)), "column": heads(gan.synthesise(loaded, w_column))}
        rows = []
        for preset, crossover in crossover_presets(layers).items():
            mixed = heads(gan.synthesise(loaded, loaded.model.mix(w_row, w_column, crossover)))
            sizes = f"rows {layers[0]}–{layers[crossover - 1]} px"
            for name, word in (("category", "category"), ("style", "art set"), ("colour", "main colour")):
                chance = (alone["row"][name] == alone["column"][name]).float().mean().item()
                from_row = (mixed[name] == alone["row"][name]).float().mean().item()
                from_column = (mixed[name] == alone["column"][name]).float().mean().item()
                rows.append(
                    row(spec.id, f"{preset} mix ({sizes}), {word} of the row seed", from_row,
                         f"of the column seed {from_column:.3f}; the two seeds share it {chance:.3f}")
                )  # fmt: skip
        return rows

    def conditional_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """Distribution measures with labels as the held-out art has them, then class-consistency: how
        often the feature network's category / style head names the class asked for, beside how often
        it names real held-out art (at the generator's resolution) correctly; overall, per class, and both
        label sets at once."""
        engine = self.engines.conditional
        loaded, _ = engine.load(spec.id)
        label_sets = loaded.picked  # a drawn label set (subjects) is drawn by the engine, as in the studio
        # sample i (seed i) is asked for the labels of held-out image i, cycling: the held-out label mix
        held = self.heldout
        emoji_labels = all(  # the emoji set's own labels: ask for them as the held-out art has them
            k in ("category", "style") and loaded.labels[k] == [str(n) for n in held[f"{k}_names"]] for k in label_sets
        )
        wanted = [
            {k: str(held[f"{k}_names"][held[k][i % len(held[k])]]) for k in label_sets}
            if emoji_labels
            else {k: loaded.labels[k][i % len(loaded.labels[k])] for k in label_sets}
            for i in range(self.samples)
        ]
        images = [np.asarray(engine.sample(labels, i, 1, 1.0, spec.id)[0].image) for i, labels in enumerate(wanted)]
        fake = self.encode(tensor_batch(np.stack(images)))
        rows = self.distribution_rows(spec.id, "ψ = 1", fake, loaded.model.resolution)
        heads = {
            "category": ("category_logits", self.feature_net.category_names),
            "style": ("style_logits", self.feature_net.style_names),
        }
        real = self.reals(loaded.model.resolution)[1]  # held-out art at the generator's resolution
        hits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # label set -> (fake hits, real hits)
        for label_set in label_sets:
            if label_set not in heads or not set(loaded.labels[label_set]) <= set(heads[label_set][1]):
                continue  # labels the feature network does not know (e.g. a folder's own classes)
            key, names = heads[label_set]
            target = torch.tensor([names.index(w[label_set]) for w in wanted])
            hit, real_hit = fake[key].argmax(1) == target, real[key].argmax(1) == torch.from_numpy(held[label_set])
            rows.append(row(spec.id, f"{label_set} consistency", hit.float().mean().item(), accuracy_of(real_hit)))
            hits[label_set] = hit, real_hit
            for name in loaded.labels[label_set]:  # which classes come out recognisable, which do not
                asked, real_class = target == names.index(name), torch.from_numpy(held[label_set] == names.index(name))
                if asked.any() and real_class.any():
                    measure, real_value = f"{label_set} consistency: {name}", accuracy_of(real_hit[real_class])
                    rows.append(row(spec.id, measure, hit[asked].float().mean().item(), real_value))
        if len(hits) > 1:  # what an artist asks for: e.g. food *and* Noto, both drawn
            both, real_both = (torch.stack(h).all(0) for h in zip(*hits.values(), strict=True))
            measure = f"{' and '.join(hits)} both consistent"
            rows.append(row(spec.id, measure, both.float().mean().item(), accuracy_of(real_both)))
        return rows

    @torch.no_grad()
    def vae_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        loaded, _ = self.engines.vae.load(spec.id)
        device = self.engines.runtime.device
        x = tensor_batch(self.heldout["images"])
        if loaded.fixed_size:
            x = resize(x, loaded.fixed_size)
        scores_psnr, scores_ssim = [], []
        for i in range(0, len(x), 128):
            batch = x[i : i + 128]
            y = decode(loaded.model, encode(loaded.model, batch.to(device, loaded.dtype))).float().cpu()
            scores_psnr.append(psnr((batch + 1) / 2, (y + 1) / 2))
            scores_ssim.append(ssim((batch + 1) / 2, (y + 1) / 2))
        n = len(x)
        return [
            row(spec.id, f"PSNR dB ({n} held-out)", torch.cat(scores_psnr).mean().item(), "identity: ∞"),
            row(spec.id, "SSIM", torch.cat(scores_ssim).mean().item(), "identity: 1"),
        ]

    def text_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """Does the image match the words? Each held-out caption is drawn once (seed = its index) and
        should retrieve its own caption among all held-out captions, as real held-out art does. Then
        prompts that are in no caption, against the held-out captions plus themselves."""
        from engines.text_encoder import shared_minilm

        defaults = self.engines.text.defaults(spec.id)
        steps, guidance = defaults["steps"], defaults["guidance_scale"]

        def draw(prompts: list[str], seeds: int = 1) -> dict[str, torch.Tensor]:
            images = []
            for i, prompt in enumerate(prompts):
                drawn = self.engines.text.draw(prompt, "", i * seeds, seeds, steps, guidance, "model default", spec.id)
                images += [np.asarray(d.image.convert("RGB").resize((64, 64))) for d in drawn]
            return self.encode(tensor_batch(np.stack(images))) | {"images": images}

        captions, bank = self.captions, self.caption_bank
        own = torch.arange(len(captions))
        made = draw(captions)["embedding"]
        real_top1, real_top5 = (round(v, 4) for v in self.real_caption_retrieval)  # as the feature rows show them
        n, m, seeds = len(captions), len(NOVEL_PROMPTS), 4
        top1, top5 = (retrieval_accuracy(made, own, bank, k) for k in (1, 5))
        rows = [
            row(spec.id, f"caption top-1 ({n} held-out captions drawn)", top1, real_top1),
            row(spec.id, "caption top-5", top5, real_top5),
        ]
        novel_bank = torch.cat([bank, shared_minilm().embed(NOVEL_PROMPTS).cpu()])
        made = draw(NOVEL_PROMPTS, seeds)["embedding"]
        own = (n + torch.arange(m)).repeat_interleave(seeds)
        top1, top5 = (retrieval_accuracy(made, own, novel_bank, k) for k in (1, 5))
        rows += [
            row(spec.id, f"novel prompts top-1 ({m} × {seeds} seeds)", top1, f"chance {1 / len(novel_bank):.3f}"),
            row(spec.id, "novel prompts top-5", top5, f"chance {5 / len(novel_bank):.3f}"),
        ]
        # Prompts that name an art set ("red apple, noto style"): is it drawn in that style?
        styles = [str(name) for name in self.heldout["style_names"]]
        prompts = [f"{c}, {style_phrase(name)}" for name in styles for c in captions[:STYLE_PROMPTS]]
        asked = np.repeat(np.arange(len(styles)), min(STYLE_PROMPTS, n))
        real_style = round(accuracy(self.real_heldout["style_logits"], self.heldout["style"]), 4)
        style = accuracy(draw(prompts)["style_logits"], asked)
        rows.append(row(spec.id, f"style named in the prompt, drawn ({len(prompts)} prompts)", style, real_style))
        rows.append(colour_row(spec.id, captions, lambda prompts: draw(prompts)["images"]))
        return rows

    def art(self, size: int, split: str) -> dict[str, np.ndarray]:
        return emoji_data.load(size, split, data_dir=self.data_dir)

    def upscale_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """×4 on held-out emoji rendered small (the input) and 4× larger (the truth): PSNR and SSIM for
        nearest, bicubic and the upscaler, on clean inputs and on 64 px inputs passed through the emoji
        VAE; whether the result shrunk back is still the input; and on what the GANs really draw,
        how much crisp edge the result holds beside real art rendered at that size."""
        loaded, _ = self.engines.upscale.load(spec.id)
        model, scale, rows = loaded.model, loaded.model.scale, []
        for small_size in (32, 64):
            large_size = small_size * scale
            small = tensor_batch(self.art(small_size, "heldout")["images"])
            large = (tensor_batch(self.art(large_size, "heldout")["images"]) + 1) / 2
            ours = enlarge(model, small)
            made = {
                "nearest": F.interpolate(small, scale_factor=scale, mode="nearest"),
                "bicubic": bicubic(small, scale),
            }
            score = {name: psnr((m + 1) / 2, large).mean().item() for name, m in (*made.items(), ("ours", ours))}
            similar = {
                name: ssim((m + 1) / 2, large).mean().item()
                for name, m in (("bicubic", made["bicubic"]), ("ours", ours))
            }
            where = f"{small_size}→{large_size}, {len(small)} held-out"
            rows += [
                row(
                    spec.id,
                    f"PSNR dB ({where})",
                    score["ours"],
                    f"bicubic {score['bicubic']:.2f}, nearest {score['nearest']:.2f}",
                ),
                row(
                    spec.id,
                    f"gain over bicubic, dB ({small_size}→{large_size})",
                    score["ours"] - score["bicubic"],
                    "goal ≥ 5" if small_size == 32 else "goal ≥ 4",
                ),
                row(spec.id, f"SSIM ({where})", similar["ours"], f"bicubic {similar['bicubic']:.4f}"),
                row(
                    spec.id,
                    f"shrunk back to {small_size} px, PSNR dB against the input",
                    psnr((resize(ours, small_size) + 1) / 2, (small + 1) / 2).mean().item(),
                    "identity: ∞",
                ),
            ]
        small = tensor_batch(self.art(64, "heldout")["images"])
        vae_spec = self.engines.registry.default("vae")
        if vae_spec is not None:  # degraded as the text model's and the VAE's outputs are
            vae, _ = self.engines.vae.load(vae_spec.id)
            with torch.inference_mode():
                soft = torch.cat(
                    [decode(vae.model, encode(vae.model, small[i : i + 64])) for i in range(0, len(small), 64)]
                )
            large = (tensor_batch(self.art(256, "heldout")["images"]) + 1) / 2
            ours, plain = (
                psnr((enlarge(model, soft) + 1) / 2, large).mean().item(),
                psnr((bicubic(soft, scale) + 1) / 2, large).mean().item(),
            )
            rows.append(row(spec.id, f"PSNR dB (64→256, input through {vae_spec.id})", ours, f"bicubic {plain:.2f}"))
        gan_spec = self.engines.registry.default("gan")
        if gan_spec is not None:
            sample = self.engines.gan.sample
            grids = [
                sample(seed, min(64, self.samples - seed), 1.0, gan_spec.id) for seed in range(0, self.samples, 64)
            ]
            drawn = tensor_batch(np.stack([np.asarray(r.image) for grid in grids for r in grid]))
            rows += self.upscaled_realism_rows(spec.id, model, f"{gan_spec.id}'s {len(drawn)} samples", drawn)
        text_spec = self.engines.registry.default("text")
        if text_spec is not None:
            defaults = self.engines.text.defaults(text_spec.id)
            captions = self.captions[:UPSCALED_CAPTIONS]
            drawn = tensor_batch(
                np.stack(
                    [
                        np.asarray(made.image.convert("RGB"))
                        for i, caption in enumerate(captions)
                        for made in self.engines.text.draw(
                            caption,
                            "",
                            i,
                            1,
                            defaults["steps"],
                            defaults["guidance_scale"],
                            "model default",
                            text_spec.id,
                        )
                    ]
                )
            )
            where = f"{text_spec.id}'s {len(drawn)} held-out captions"
            rows += self.upscaled_realism_rows(spec.id, model, where, drawn)
        return rows

    def upscaled_realism_rows(self, model_id: str, model, where: str, drawn: torch.Tensor) -> list[dict[str, Any]]:
        """What a generator drew, ×4 by the upscaler and by bicubic, against real art rendered at the
        enlarged size: the Fréchet distance of 64 px crops (realism at the new size, in the feature
        network's space), and how far the spread of neighbouring-pixel differences is from real
        art's (flat fills and crisp edges, against blur and noise). The mean of those differences
        alone cannot tell: bicubic's blurred edges and kept noise average out to about real art's."""
        size = drawn.shape[-1] * model.scale
        real = tensor_batch(self.art(size, "heldout")["images"])
        train = self.art(size, "train")["images"]
        floor = tensor_batch(train[np.linspace(0, len(train) - 1, min(len(real), len(train))).astype(int)])
        real_crops, real_steps = self.encode(crops(real))["features"], pixel_steps(real)
        made = {"ours": enlarge(model, drawn), "bicubic": bicubic(drawn, model.scale)}
        fd = {name: frechet_distance(self.encode(crops(m))["features"], real_crops) for name, m in made.items()}
        steps = {name: wasserstein(pixel_steps(m), real_steps) for name, m in made.items()}
        fd_floor = frechet_distance(self.encode(crops(floor))["features"], real_crops)
        return [
            row(
                model_id,
                f"Fréchet distance of 64 px crops, {where} ×4 (bicubic {fd['bicubic']:.2f})",
                fd["ours"],
                f"real {size} px art: {fd_floor:.2f}",
            ),
            row(
                model_id,
                f"pixel-step spread from real art's, {where} ×4 (bicubic {steps['bicubic']:.4f})",
                steps["ours"],
                "real art: 0",
            ),
        ]

    def translation_pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(source index, true-target index, target set) into the held-out art, for every held-out
        emoji that every art set draws and every ordered pair of sets."""
        emoji, sets = self.heldout["hexcode"], self.heldout["style"]
        where = {(e, int(s)): i for i, (e, s) in enumerate(zip(emoji, sets, strict=True))}
        n = len(self.heldout["style_names"])
        everywhere = sorted(e for e in set(emoji) if all((e, s) in where for s in range(n)))
        rows = [(where[e, a], where[e, b], b) for a in range(n) for b in range(n) if a != b for e in everywhere]
        images = self.heldout["images"]  # one emoji is the same picture in two sets: nothing to translate
        rows = [(s, t, b) for s, t, b in rows if not np.array_equal(images[s], images[t])]
        if not rows:
            raise SystemExit("no held-out emoji is drawn in every art set: nothing to measure a translator on")
        return tuple(torch.tensor(column) for column in zip(*rows, strict=True))

    def translation_rows(self, model: str, made: torch.Tensor, pairs, per_pair: bool = True) -> list[dict[str, Any]]:
        """How close translations [N,3,64,64] in [-1, 1] of held-out art are to the true target (the same
        emoji as the target set draws it), beside the untouched source; whether the style head reads
        the target set in them, and whether they still retrieve the emoji's caption, beside real art."""
        source, target, sets = pairs
        x, truth = self.heldout_images[source], self.heldout_images[target]
        names = [str(name) for name in self.heldout["style_names"]]
        ours, real = self.encode(made), self.encode(truth)
        untouched = self.encode(x)

        def distance(a: dict, b: dict) -> torch.Tensor:  # cosine distance of the feature vectors
            return 1 - F.cosine_similarity(a["features"], b["features"])

        scores = {
            "PSNR dB": (psnr((made + 1) / 2, (truth + 1) / 2), psnr((x + 1) / 2, (truth + 1) / 2)),
            "SSIM": (ssim((made + 1) / 2, (truth + 1) / 2), ssim((x + 1) / 2, (truth + 1) / 2)),
            "feature distance": (distance(ours, real), distance(untouched, real)),
        }
        own = self.heldout["style"][source.numpy()].tolist()
        n, kinds = len(sets), len(set(zip(own, sets.tolist(), strict=True)))
        rows = [
            row(model, f"{name} to the true target ({n} translations, {kinds} pairs)",
                value.mean().item(), f"untouched source: {floor.mean().item():.4g}")
            for name, (value, floor) in scores.items()
        ]  # fmt: skip
        recognised = ours["style_logits"].argmax(1) == sets
        real_style = accuracy(self.real_heldout["style_logits"], self.heldout["style"])
        rows.append(
            row(model, "target set recognised by the style head", accuracy_of(recognised), round(real_style, 4))
        )
        rows.append(row(model, "stripes: second difference between neighbouring pixels", stripes(made).item(),
                        round(stripes(truth).item(), 4)))  # fmt: skip
        kept = self.caption_targets[source]
        for k, real_rate in zip((1, 5), self.real_caption_retrieval, strict=True):
            rate = retrieval_accuracy(ours["embedding"], kept, self.caption_bank, k)
            rows.append(row(model, f"content kept: caption top-{k}", rate, round(real_rate, 4)))
        if per_pair:
            for a in range(len(names)):
                for b in range(len(names)):
                    pick = (self.heldout["style"][source.numpy()] == a) & (sets.numpy() == b)
                    if a == b or not pick.any():
                        continue
                    pick = torch.from_numpy(pick)
                    gain = (scores["PSNR dB"][0][pick] - scores["PSNR dB"][1][pick]).mean().item()
                    rows.append(row(model, f"{names[a]} → {names[b]}: PSNR gain over the source dB, set recognised",
                                    gain, f"recognised {accuracy_of(recognised[pick]):.3f}"))  # fmt: skip
        return rows

    def restyle_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """The translator on every held-out emoji that every set draws, for every ordered pair of sets
        (the source set named, as the harness measures translation, not its detection)."""
        loaded, _ = self.engines.restyle.load(spec.id)
        names = [str(name) for name in self.heldout["style_names"]]
        drawn = [loaded.model.set_names.index(name) if name in loaded.model.set_names else -1 for name in names]
        source, target, sets = self.translation_pairs()
        own = torch.from_numpy(self.heldout["style"])[source]
        keep = (torch.tensor(drawn)[own] >= 0) & (torch.tensor(drawn)[sets] >= 0)  # the sets it draws
        if not keep.any():
            return []  # a translator between other sets (your own folders): no true targets here
        pairs = (source[keep], target[keep], sets[keep])
        # the source and target sets, as the translator numbers its sets
        own, into = torch.tensor(drawn)[own[keep]], torch.tensor(drawn)[pairs[2]]

        def translate(strength: float) -> torch.Tensor:  # the Restyle tab's rows: strength 1 is the target set
            from engines.restyle import style_row

            made, device = [], self.engines.runtime.device
            with torch.inference_mode():
                for i in range(0, len(into), 64):
                    x = self.heldout_images[pairs[0][i : i + 64]].to(device, loaded.dtype)
                    walks = zip(own[i : i + 64].tolist(), into[i : i + 64].tolist(), strict=True)
                    rows = torch.cat([style_row(loaded.model, a, b, strength, x) for a, b in walks])
                    made.append(loaded.model(x, rows).clamp(-1, 1).float().cpu())
            return torch.cat(made)

        past = [  # how much more of the set, and how much less of the emoji, at the tab's highest strength
            r | {"measure": f"at strength {MAX_STRENGTH}: {r['measure']}"}
            for r in self.translation_rows(spec.id, translate(MAX_STRENGTH), pairs, per_pair=False)
            if "recognised" in r["measure"] or "content kept" in r["measure"]
        ]
        rows = self.translation_rows(spec.id, translate(1.0), pairs)
        return [*rows, *past, self.own_set_row(spec.id, loaded, drawn)]

    def own_set_row(self, model_id: str, loaded, drawn: list[int]) -> dict[str, Any]:
        """How often the tab's "detect it" names held-out art's own set (engines/restyle.py's own_set),
        over every held-out image of the sets the translator draws; beside the style head's rate."""
        from engines.restyle import own_set

        numbered = torch.tensor(drawn)[torch.from_numpy(self.heldout["style"])]  # as the translator numbers them
        hits = []
        with torch.inference_mode():
            for i in torch.nonzero(numbered >= 0).flatten().tolist():
                x = self.heldout_images[i : i + 1].to(self.engines.runtime.device, loaded.dtype)
                hits.append(own_set(loaded.model, x) == int(numbered[i]))
        real_style = accuracy(self.real_heldout["style_logits"], self.heldout["style"])
        how = "its critic's classifier" if loaded.model.reader is not None else "the set its redrawing changes least"
        return row(model_id, f"own set detected ({how}; {len(hits)} held-out images)",
                   accuracy_of(torch.tensor(hits)), f"style head: {real_style:.4f}")  # fmt: skip

    def image_to_image_rows(self, spec: ModelSpec) -> list[dict[str, Any]]:
        """The text model redrawing held-out art in another set (SDEdit): the prompt is the emoji's
        caption and the target set's phrase, on the first I2I_EMOJI emoji of the translation pairs."""
        source, target, sets = self.translation_pairs()
        emoji = self.heldout["hexcode"][source.numpy()]
        keep = torch.from_numpy(np.isin(emoji, sorted(set(emoji))[:I2I_EMOJI]))
        pairs = (source[keep], target[keep], sets[keep])
        names = [str(name) for name in self.heldout["style_names"]]
        defaults = self.engines.text.defaults(spec.id)
        rows = []
        for strength in I2I_STRENGTHS:
            made = []
            for i, (s, t) in enumerate(zip(pairs[0].tolist(), pairs[2].tolist(), strict=True)):
                image = Image.fromarray(self.heldout["images"][s])
                prompt = f"{self.heldout['caption'][s]}, {style_phrase(names[t])}"
                (drawn,) = self.engines.image_to_image.draw(
                    image, prompt, "", strength, i, 1, defaults["steps"], defaults["guidance_scale"], spec.id
                )
                made.append(np.asarray(drawn.image.convert("RGB")))
            name = f"{spec.id} image-to-image, strength {strength:g}"
            rows += self.translation_rows(name, tensor_batch(np.stack(made)), pairs, per_pair=False)
        return rows

    def run(self, only: list[str] | None = None) -> list[dict[str, Any]]:
        measures = {
            "features": self.feature_rows,
            "vae": self.vae_rows,
            "gan": self.gan_rows,
            "conditional": self.conditional_rows,
            "text": self.text_rows,
            "upscale": self.upscale_rows,
            "restyle": self.restyle_rows,
            "image_to_image": self.image_to_image_rows,
        }
        rows = []
        for task, measure in measures.items():
            for spec in self.engines.registry.bundled(task):
                if only and spec.id not in only:
                    continue
                self.measured[spec.id] = spec
                started = time.perf_counter()
                model_rows = measure(spec)
                print(f"{spec.id}: {time.perf_counter() - started:.0f} s")
                rows += model_rows
        return rows


def enlarge(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """An upscaler's output for a batch in [-1, 1], one image at a time (as the engine runs it)."""
    with torch.inference_mode():
        return torch.cat([model.self_ensemble(images[i : i + 1]).clamp(-1, 1) for i in range(len(images))])


def bicubic(images: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def crops(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Every image cut into size × size tiles: the feature network's input size, at full resolution."""
    side = images.shape[-1] // size
    return torch.cat(
        [images[..., i * size : (i + 1) * size, j * size : (j + 1) * size] for i in range(side) for j in range(side)]
    )


def pixel_steps(images: torch.Tensor) -> torch.Tensor:
    """Every absolute difference between neighbouring pixels, flattened: near 0 in flat fills, large
    across crisp edges; blur moves mass from both ends to the middle, noise lifts the flat end."""
    return torch.cat(
        [
            (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(),
            (images[..., 1:] - images[..., :-1]).abs().flatten(),
        ]
    )


def stripes(images: torch.Tensor) -> torch.Tensor:
    """The mean |x_i − (x_(i−1) + x_(i+1)) / 2| along rows and columns of images in [-1, 1]: a stripe
    pattern one pixel wide maximises it, a flat fill or a smooth ramp scores 0, an edge a little."""
    rows = (images[..., 1:-1, :] - (images[..., :-2, :] + images[..., 2:, :]) / 2).abs().mean()
    columns = (images[..., 1:-1] - (images[..., :-2] + images[..., 2:]) / 2).abs().mean()
    return (rows + columns) / 2


def wasserstein(a: torch.Tensor, b: torch.Tensor, quantiles: int = 2001, most: int = 1_000_000) -> float:
    """Earth mover's distance between two 1-d samples, from their quantiles (each cut to `most`
    values, evenly spaced, to bound the sort)."""
    q = torch.linspace(0, 1, quantiles)
    a, b = (x[:: max(1, len(x) // most)].float() for x in (a, b))
    return (torch.quantile(a, q) - torch.quantile(b, q)).abs().mean().item()


def colour_row(model: str, captions: list[str], draw) -> dict[str, Any]:
    """Prompts that name a colour ("blue grinning face"): is the drawing mostly that colour, as
    training/colours.py reads it? Beside it: how often the same labels drawn without a colour
    word come out in the asked colour anyway (the model's prior, not its reading)."""
    labels = [without_colours(c.split(",")[0]) for c in captions[:COLOUR_PROMPTS]]
    colours = [c for c in COLOURS if c not in ("black", "grey", "white")]
    asked = [colour for colour in colours for _ in labels]
    said = [colour_name(image) for image in draw([f"{colour} {label}" for colour in colours for label in labels])]
    prior = [colour_name(image) for image in draw(labels)] * len(colours)
    hits = torch.tensor([a == s for a, s in zip(asked, said, strict=True)])
    without_word = accuracy_of(torch.tensor([a == p for a, p in zip(asked, prior, strict=True)]))
    return row(model, f"colour named in the prompt, drawn ({len(asked)} prompts)", accuracy_of(hits),
               f"without the word: {without_word:.3f}")  # fmt: skip


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def row(model: str, measure: str, value: float, real: float | str) -> dict[str, Any]:
    return {"model": model, "measure": measure, "value": round(value, 4), "real data": real}


def accuracy(logits: torch.Tensor, labels: np.ndarray) -> float:
    return (logits.argmax(1) == torch.from_numpy(labels)).float().mean().item()


def accuracy_of(hits: torch.Tensor) -> float:
    return round(hits.float().mean().item(), 4)


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]


def update_card(folder: Path, rows: list[dict[str, Any]], feature_spec: ModelSpec, by_model: bool = False) -> None:
    """Write (or replace) the quality table in a model card (`by_model`: rows of several models, named)."""
    card = folder / "README.md"
    if card.is_file():
        intro = (
            f"Measured by `python -m benchmarks.quality` in the feature space of `{feature_spec.id}`, "
            f"{time.strftime('%Y-%m-%d')}. *Real data*: what real art scores on the same measure (for Fréchet "
            "distance, precision/recall and coverage: real training images against the same held-out images, the "
            "floor a perfect generator would reach)."
        )
        columns = ("model", "measure", "value", "real data") if by_model else ("measure", "value", "real data")
        put_section(card, "quality", ["## Quality", "", intro, "", *table(rows, columns)])


def write_ablation(card: Path, rows: list[dict[str, Any]], title: str, command: str) -> str:
    """A comparison of training choices in a model card, with the winner by Fréchet distance at psi = 1."""
    fd = {r["model"]: r["value"] for r in rows if r["measure"].startswith("Fréchet distance (ψ = 1,")}
    winner = min(fd, key=fd.get) if fd else "n/a"
    summary = f"**Lowest Fréchet distance at ψ = 1: `{winner}`.**"
    body = ["## Ablation: " + title, "", f"`{command}`", "", summary, ""]
    put_section(card, "ablation", body + table(rows, ("model", "measure", "value", "real data")))
    return winner


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=SAMPLES, help="generated images per setting")
    parser.add_argument("--models", nargs="*", help="only these bundled models (ids)")
    parser.add_argument("--update-cards", action="store_true", help="write the table into each model card")
    parser.add_argument("--name", default="quality", help="results/<name>.json")
    parser.add_argument("--ablation-card", type=Path, help="write the table as an ablation into this model card")
    parser.add_argument("--ablation-title", default="training choices", help="what the ablation compares")
    parser.add_argument(
        "--checkpoints", type=Path, default=None, help="measure the models in another folder (e.g. training ablations)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    engines = create_engines(Registry(args.checkpoints) if args.checkpoints else None)
    harness = Harness(engines, args.samples)
    rows = harness.run(args.models)
    report(args.name, rows)
    print(f"\n{time.perf_counter() - started:.0f} s in all on {machine()}")
    if args.ablation_card:
        command = "python -m benchmarks.quality " + shlex.join(argv if argv is not None else sys.argv[1:])
        winner = write_ablation(args.ablation_card, rows, args.ablation_title, command)
        print(f"ablation written to {args.ablation_card}: {winner} wins")
    if args.update_cards:
        translators = {model for model, spec in harness.measured.items() if spec.task == "restyle"}
        for model, spec in harness.measured.items():
            mine = [r for r in rows if r["model"] == model]
            if model in translators:  # beside the other translators and the text model's image-to-image
                mine = [r for r in rows if r["model"] in translators or "image-to-image" in r["model"]]
            update_card(Path(spec.location), mine, harness.feature_spec, by_model=model in translators)
    return rows


if __name__ == "__main__":
    main()
