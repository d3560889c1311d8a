"""Cold start: process start -> page served, for Atelier and a bare Gradio app started in the same run.

    python -m benchmarks.cold_start [--repeats 3]

Both are started as fresh processes; the clock stops when GET / answers 200.
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


def time_to_page(command: list[str], port: int, timeout: float = 180) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{command} did not serve a page in {timeout}s")
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
        bare.append(time_to_page([sys.executable, "-c", BARE_APP.format(port=port)], port))
        port = free_port()
        atelier.append(time_to_page([sys.executable, "app.py", "--port", str(port), "--gallery", gallery], port))
    bare_s, atelier_s = statistics.median(bare), statistics.median(atelier)
    report(
        "cold_start",
        [
            {"what": "bare Gradio app (one Image, one Button)", "median s": bare_s, "ratio": 1.0},
            {"what": "Atelier (python app.py)", "median s": atelier_s, "ratio": atelier_s / bare_s},
        ],
    )


if __name__ == "__main__":
    main()
