"""Upscaler speed: the engine against a bare forward of the same network, and what Hires ×4 adds
to a 16-image GAN grid and to 4 text images through the API.

    python -m benchmarks.upscale_speed [--repeats 5]

Rows:
  - 16 GAN images (32 px) ×4, one at a time: bare `model.self_ensemble(x)` + 8-bit images vs `engines.upscale.hires`
    (recipes, the hash, the same forward passes). Goal: <= 1.1x. Beside it, one plain pass: the ensemble's cost.
  - /gan_sample (16 images) and /text_to_image (4 images, 20 steps) through the API, with and
    without hires (response only: gradio_client's per-file downloads are measured in gan_speed).
    Goal: hires adds <= 0.5 s to each. The calls alternate (plain, hires, plain, ...) and the figure
    is the median of each pair's difference, so a slow stretch of the machine (the text model's
    20 steps vary by a few hundred ms) lands on both sides of a pair instead of on one median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.base import pil_batch, tensor_batch


def paired(call, repeats: int, warmup: int = 2) -> tuple[float, float, float]:
    """`call(False)` and `call(True)` in turn: the median seconds of each, and the median of the
    pairs' differences."""
    for _ in range(warmup):
        call(False), call(True)
    plain, hires = [], []
    for _ in range(repeats):
        for times, flag in ((plain, False), (hires, True)):
            start = time.perf_counter()
            call(flag)
            times.append(time.perf_counter() - start)
    added = statistics.median(h - p for p, h in zip(plain, hires, strict=True))
    return statistics.median(plain), statistics.median(hires), added


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    engines = create_engines()
    spec, gan, text = (engines.registry.default(task) for task in ("upscale", "gan", "text"))
    if spec is None or gan is None:
        raise SystemExit("needs a bundled upscaler and GAN: python -m training.train_upscale")
    loaded, _ = engines.upscale.load(spec.id)
    grid = engines.gan.sample(seed=0, count=16, psi=0.8, model_id=gan.id)
    inputs = [tensor_batch([r.image]) for r in grid]

    def bare(forward) -> None:
        with torch.inference_mode():
            for x in inputs:
                pil_batch(forward(x))

    bare_s = median_seconds(lambda: bare(loaded.model.self_ensemble), args.repeats)
    one_pass_s = median_seconds(lambda: bare(loaded.model), args.repeats)
    engine_s = median_seconds(lambda: engines.upscale.hires(grid, spec.id), args.repeats)
    what = f"bare {spec.id} self-ensemble (two passes as one batch), 16 images 32→128 one at a time"
    rows = [
        {"what": what, "median ms": bare_s * 1000, "ratio": 1.0},
        {
            "what": "  … one pass alone (what the self-ensemble costs)",
            "median ms": one_pass_s * 1000,
            "ratio": one_pass_s / bare_s,
        },
        {
            "what": "engine.upscale.hires on a 16-image GAN grid",
            "median ms": engine_s * 1000,
            "ratio": engine_s / bare_s,
        },
    ]

    import app
    from gallery import Gallery

    demo = app.build_app(engines, Gallery(Path(tempfile.mkdtemp()) / "g"))
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    calls = [("/gan_sample", (0, 16, 0.8, gan.id), "16-image GAN grid")]
    if text is not None:
        calls.append(("/text_to_image", ("a red apple", "", 0, 4, 20, 4.0, "model default", text.id), "4 text images"))
    for endpoint, request, what in calls:
        plain, hires, added = paired(lambda h, e=endpoint, r=request: client.predict(*r, h, api_name=e), args.repeats)
        rows.append({"what": f"{what} via {endpoint}", "median ms": plain * 1000, "ratio": 1.0})
        rows.append({"what": f"  … with Hires ×4 (adds {1000 * added:.0f} ms)", "median ms": hires * 1000,
                     "ratio": hires / plain})  # fmt: skip
    demo.close()
    report("upscale_speed", rows)


if __name__ == "__main__":
    main()
