"""Restyle speed: the translator engine against a bare forward of the same network, one 64×64
translation through the API, and the text model's image-to-image beside its text-to-image draw.

    python -m benchmarks.restyle_speed [--repeats 7]

Rows:
  - one 64 px image into one set: bare `model(x, set)` + an 8-bit image vs `engines.restyle.restyle`
    (decoding the file, the white padding, the recipe). Goal: <= 1.1x.
  - the same through /restyle (the API's whole call: upload, save to the gallery, response). Goal: <= 0.3 s.
  - /image_to_image at strength 0.6 (12 of 20 steps) against /text_to_image (20 steps), 4 images each.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from PIL import Image

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.base import pil_batch, tensor_batch
from training import data as emoji_data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    engines = create_engines()
    spec, text = engines.registry.default("restyle"), engines.registry.default("image_to_image")
    if spec is None:
        raise SystemExit("needs a bundled translator: python -m training.train_restyle")
    loaded, _ = engines.restyle.load(spec.id)
    art = emoji_data.load(64, "heldout")
    image_path = Path(tempfile.mkdtemp()) / "emoji.png"
    Image.fromarray(art["images"][0]).save(image_path)
    target = loaded.model.set_names[-1]
    x, sets = tensor_batch(art["images"][:1]), torch.tensor([len(loaded.model.set_names) - 1])

    def bare() -> None:
        with torch.inference_mode():
            pil_batch(loaded.model(x, sets))

    source = loaded.model.set_names[0]
    bare_s = median_seconds(bare, args.repeats)
    engine_s = median_seconds(
        lambda: engines.restyle.restyle(str(image_path), target, spec.id, 1.0, source), args.repeats
    )
    detect_s = median_seconds(lambda: engines.restyle.restyle(str(image_path), target, spec.id), args.repeats)
    rows = [
        {"what": f"bare {spec.id} forward, one 64 px image", "median ms": bare_s * 1000, "ratio": 1.0},
        {"what": "engine.restyle.restyle, its set named", "median ms": engine_s * 1000, "ratio": engine_s / bare_s},
        {
            "what": "  … its set detected (its critic's classifier)",
            "median ms": detect_s * 1000,
            "ratio": detect_s / bare_s,
        },
    ]

    import app
    from gallery import Gallery

    demo = app.build_app(engines, Gallery(Path(tempfile.mkdtemp()) / "g"))
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs(demo))
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=False)
    file = handle_file(str(image_path))
    api_s = median_seconds(
        lambda: client.predict(file, target, spec.id, 1.0, "auto", False, api_name="/restyle"), args.repeats
    )
    rows.append({"what": "/restyle through the API, its set detected", "median ms": api_s * 1000, "ratio": 1.0})
    if text is not None:
        draw, repeats = (text.id, "", 4, False), max(3, args.repeats // 2)
        prompt = ("a red apple", "", 0, 4, 20, 4.0, "model default", text.id)
        text_s = median_seconds(lambda: client.predict(*prompt, api_name="/text_to_image"), repeats)
        i2i_s = median_seconds(
            lambda: client.predict(file, "a red apple", 0.6, 0, 20, 4.0, *draw, api_name="/image_to_image"),
            repeats,
        )
        rows.append({"what": f"/text_to_image, 4 images, 20 steps ({text.id})", "median ms": text_s * 1000,
                     "ratio": 1.0})  # fmt: skip
        rows.append({"what": "/image_to_image, 4 images, strength 0.6 of 20 steps", "median ms": i2i_s * 1000,
                     "ratio": i2i_s / text_s})  # fmt: skip
    demo.close()
    report("restyle_speed", rows)


if __name__ == "__main__":
    main()
