"""GAN speed: the engine against the bare generator forward, the app API end to end, first image.

    python -m benchmarks.gan_speed [--repeats 10]                    # the unconditional GAN
    python -m benchmarks.gan_speed --task conditional                # the class-conditional GAN

Rows:
  - images/s at batch 64: bare `generator(z)` vs `engines.gan.sample` (noise per seed, truncation,
    PNG-ready images, recipes). The engine should cost under 10% (ratio <= 1.10 in time).
  - a 16-image grid through the app API (/gan_sample via gradio_client: validation, generation,
    16 gallery writes in one transaction, Gradio's file handling), three ways: the response alone
    (download_files=False), with the 16 files downloaded over plain http (ssl_verify=False), and
    gradio_client's defaults, which build a TLS context (~33 ms here) for every file downloaded.
  - first-image latency after start: a fresh process builds the engines and makes one image.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.base import pil_batch

ROOT = Path(__file__).resolve().parent.parent
FIRST_IMAGE = """
import time; start = time.perf_counter()
from engines import create_engines
engines = create_engines()
model = engines.registry.default("{task}").id
engines.{task}.sample({sample_args}1.0, model)
print(time.perf_counter() - start)
"""
ANY_LABELS = "{'category': 'any', 'style': 'any'}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--task", choices=["gan", "conditional"], default="gan")
    args = parser.parse_args()
    engines = create_engines()
    spec = engines.registry.default(args.task)
    if spec is None:
        raise SystemExit(f"no {args.task} checkpoint: train one with python -m training.train_gan")
    engine = getattr(engines, args.task)
    loaded, _ = engine.load(spec.id)
    z = torch.randn(64, loaded.model.z_dim, device=engines.runtime.device, dtype=loaded.dtype)
    conditional = args.task == "conditional"
    labels = dict.fromkeys(loaded.labels, "any") if conditional else None
    label_ids = torch.tensor(loaded.model.label_sizes, device=z.device).repeat(64, 1) if conditional else None

    def bare() -> None:
        with torch.inference_mode():  # the same work to 8-bit images, without the engine around it
            pil_batch(loaded.model(z, label_ids) if conditional else loaded.model(z))

    def through_engine() -> None:
        if conditional:
            engine.sample(labels, 0, 64, 0.8, spec.id)
        else:
            engine.sample(0, 64, 0.8, spec.id)

    bare_s = median_seconds(bare, args.repeats)
    engine_s = median_seconds(through_engine, args.repeats)

    import app
    from gallery import Gallery

    demo = app.build_app(engines, Gallery(Path(tempfile.mkdtemp()) / "g"))
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    from gradio_client import Client

    request = ("any", "any", 0, 16, 0.8, spec.id) if conditional else (0, 16, 0.8, spec.id)
    endpoint = f"/{args.task}_sample"
    api_rows = []
    for how, options in (
        ("response only, no download", {"download_files": False}),
        ("16 files downloaded over http (ssl_verify=False)", {"ssl_verify": False}),
        ("gradio_client defaults (a TLS context per file)", {}),
    ):
        client = Client(url, verbose=False, **options)
        api_s = median_seconds(lambda client=client: client.predict(*request, api_name=endpoint), args.repeats)
        api_rows.append({"what": f"16-image grid via {endpoint}: {how}", "median ms": api_s * 1000})
    demo.close()
    first_image = FIRST_IMAGE.format(task=args.task, sample_args=f"{ANY_LABELS}, 0, 1, " if conditional else "0, 1, ")

    firsts = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", first_image], cwd=ROOT, capture_output=True, text=True, check=True)
        firsts.append((time.perf_counter() - start, float(out.stdout.strip().splitlines()[-1])))
    firsts.sort()
    process_s, in_process_s = firsts[1]

    report(
        f"{args.task}_speed",
        [
            {
                "what": f"bare generator forward + to 8-bit ({spec.id}, batch 64)",
                "median ms": bare_s * 1000,
                "images/s": 64 / bare_s,
                "ratio": 1.0,
            },
            {
                "what": f"engine.{args.task}.sample (batch 64: seeds, ψ, labels, images, recipes)",
                "median ms": engine_s * 1000,
                "images/s": 64 / engine_s,
                "ratio": engine_s / bare_s,
            },
            *({**row, "images/s": 16000 / row["median ms"], "ratio": ""} for row in api_rows),
            {
                "what": "first image after start (python start → image; imports + load)",
                "median ms": process_s * 1000,
                "images/s": "",
                "ratio": "",
            },
            {
                "what": "  of which: imports, engine setup, model load, first image",
                "median ms": in_process_s * 1000,
                "images/s": "",
                "ratio": "",
            },
        ],
    )


if __name__ == "__main__":
    main()
