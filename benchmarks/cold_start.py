"""Cold start: process start -> page served, for Atelier and a bare Gradio app started in the same run,
and process start -> the first GAN image through the API.

    python -m benchmarks.cold_start [--repeats 3]

Both are started as fresh processes; the page clock stops when GET / answers 200. The image clock
goes on: a gradio_client connects as soon as the page answers and asks /gan_sample for one image
(the studio loads torch and its models in the background after serving the page), and stops when
the image has arrived. Goals (issue 19): page <= 1.3x bare, first image <= 1.6x the bare page.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import report

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = """
import gradio as gr
with gr.Blocks() as demo:
    image = gr.Image()
    gr.Button("Run").click(lambda x: x, image, image)
demo.launch(server_name="127.0.0.1", server_port={port})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_page(command: list[str], port: int, first_image: bool = False, timeout: float = 180) -> list[float]:
    """[seconds to the page] or, with first_image, [seconds to the page, seconds to the first GAN image]."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise TimeoutError(f"{command} did not serve a page in {timeout}s")
        times = [time.perf_counter() - start]
        if first_image:
            from gradio_client import Client

            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            client.predict(0, 1, 0.8, "emoji-gan", api_name="/gan_sample")
            times.append(time.perf_counter() - start)
        return times
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bare, atelier = [], []
    gallery = tempfile.mkdtemp()
    for _ in range(args.repeats):
        port = free_port()
        bare += time_to_page([sys.executable, "-c", BARE_APP.format(port=port)], port)
        port = free_port()
        command = [sys.executable, "app.py", "--port", str(port), "--gallery", gallery]
        atelier.append(time_to_page(command, port, first_image=True))
    bare_s = statistics.median(bare)
    page_s, image_s = (statistics.median(times) for times in zip(*atelier, strict=True))
    report(
        "cold_start",
        [
            {"what": "bare Gradio app (one Image, one Button): process → page", "median s": bare_s, "ratio": 1.0},
            {"what": "Atelier (python app.py): process → page", "median s": page_s, "ratio": page_s / bare_s},
            {"what": "Atelier: process → first GAN image via the API", "median s": image_s, "ratio": image_s / bare_s},
        ],
    )


if __name__ == "__main__":
    main()
