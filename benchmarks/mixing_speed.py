"""StyleGAN-family speed: the engine against the bare network, and a style-mixing grid through the API.

    python -m benchmarks.mixing_speed [--repeats 10] [--model emoji-stylegan]

Rows:
  - batch 64 at ψ 0.8: bare `generator(z, psi)` + 8-bit images vs `engines.gan.sample` (noise per seed,
    truncation in w, recipes). Goal: <= 1.1x.
  - a 4 × 4 mixing grid: bare mapping, mixing and synthesis of its 16 cells and 8 seeds alone vs
    `engines.gan.style_mix` (checks, recipes). Goal: <= 1.1x.
  - the same grid through /gan_style_mix (gradio_client, response only: the sheet and 24 cells saved).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.base import pil_batch
from engines.gan import styled
from engines.runtime import seeded_noise

ROWS, COLUMNS = [0, 1, 2, 3], [4, 5, 6, 7]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--model", default=None, help="a StyleGAN-family GAN (default: the first bundled one)")
    args = parser.parse_args()
    engines = create_engines()
    models = [s.id for s in engines.registry.bundled("gan") if s.settings.get("arch") == "style"]
    model = args.model or next(iter(models), None)
    if model is None:
        raise SystemExit("no StyleGAN-family model: python -m training.train_gan --arch style")
    loaded, _ = engines.gan.load(model)
    if not styled(loaded.model):
        raise SystemExit(f"{model} is not a StyleGAN-family model")
    net, device = loaded.model, engines.runtime.device
    z = seeded_noise((64, net.z_dim), 0).to(device, loaded.dtype)
    seeds = torch.cat([seeded_noise((1, net.z_dim), s) for s in ROWS + COLUMNS]).to(device, loaded.dtype)
    crossover = net.layer_sizes().index(16)

    def bare_sample() -> None:
        with torch.inference_mode():
            pil_batch(net(z, psi=0.8))

    def bare_mix() -> None:
        with torch.inference_mode():
            w = net.mapping(seeds, 0.8)
            rows, columns = w[: len(ROWS)], w[len(ROWS) :]
            coarse, fine = rows.repeat_interleave(len(COLUMNS), 0), columns.repeat(len(ROWS), 1)
            pil_batch(net.synthesis(net.mix(coarse, fine, crossover)))
            pil_batch(net.synthesis(w[:, None].expand(-1, net.num_ws, -1)))

    measured = {
        "bare_sample": median_seconds(bare_sample, args.repeats),
        "sample": median_seconds(lambda: engines.gan.sample(0, 64, 0.8, model), args.repeats),
        "bare_mix": median_seconds(bare_mix, args.repeats),
        "mix": median_seconds(lambda: engines.gan.style_mix(ROWS, COLUMNS, crossover, 0.8, model), args.repeats),
    }

    import app
    from gallery import Gallery

    demo = app.build_app(engines, Gallery(Path(tempfile.mkdtemp()) / "g"))
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    request = ("0-3", "4-7", crossover, 0.8, model)
    measured["api"] = median_seconds(lambda: client.predict(*request, api_name="/gan_style_mix"), args.repeats)
    demo.close()
    report(
        "mixing_speed",
        [
            {
                "what": f"bare {model} forward + to 8-bit, batch 64, ψ 0.8",
                "median ms": measured["bare_sample"] * 1000,
                "ratio": 1.0,
            },
            {
                "what": "engine.gan.sample (batch 64: seeds, ψ in w, recipes)",
                "median ms": measured["sample"] * 1000,
                "ratio": measured["sample"] / measured["bare_sample"],
            },
            {
                "what": "bare 4 × 4 mixing grid (mapping, 16 mixed cells + 8 seeds alone, to 8-bit)",
                "median ms": measured["bare_mix"] * 1000,
                "ratio": 1.0,
            },
            {
                "what": "engine.gan.style_mix, the same grid",
                "median ms": measured["mix"] * 1000,
                "ratio": measured["mix"] / measured["bare_mix"],
            },
            {
                "what": "4 × 4 grid via /gan_style_mix (response only; the sheet and 24 cells saved)",
                "median ms": measured["api"] * 1000,
                "ratio": "",
            },
        ],
    )


if __name__ == "__main__":
    main()
