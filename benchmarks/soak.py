"""Soak and kill: the studio as a public Space meets it, on its bundled models.

    python -m benchmarks.soak                      # 20 clients, mixed endpoints, until 3,000 requests
    python -m benchmarks.soak --kills 50           # then 50 SIGKILLs mid-request, each followed by a check

Soak: a server in its own process with a Space's settings (private galleries, caps; no rate limit),
and `--clients` threads, each an API visitor (a session hash; after 10 calls, a new visitor takes
its place), calling a mix of endpoints through the REST API as raw HTTP, until `--requests` calls
have been answered. Prints per
endpoint the calls, errors and p50/p95, and the server's RSS after the first 300 answers, at its peak
and at the end. Goal (issue 20): RSS after 3,000 requests within 10% of RSS after the first 300;
0 errors.

Kill: a server is started, clients ask for grids, and the server is SIGKILLed at a random moment
mid-request; the gallery is then opened (which recovers) and checked: every listed PNG opens with its
recipe, every grid is whole (all `count` images of its batch seed, or none), and every image whose
answer reached a client is listed. Goal: 0 broken, 0 partial, 0 lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

from benchmarks.cold_start import free_port
from benchmarks.common import report

ROOT = Path(__file__).resolve().parent.parent
# (endpoint, its values with SEED for a fresh seed): what visitors do, weighted by how often
MIX = [
    ("/gan_sample", ["SEED", 4, 0.8, "emoji-gan", False], 4),
    ("/conditional_sample", ["food-drink", "noto", "SEED", 4, 0.8, "emoji-conditional", False], 2),
    ("/vae_sample", ["SEED", 2, "emoji-vae", False], 2),
    ("/gan_sample", ["SEED", 2, 0.8, "emoji-gan", True], 1),  # Hires ×4
    ("/text_to_image", ["a red apple", "", "SEED", 1, 8, 4.0, "model default", "emoji-ldm", False], 1),
    ("/gallery_list", [1, False], 3),
]


VISIT = 10  # calls per visitor: 3,000 requests are 300 visitors, as a Space sees them come and go


def start_server(gallery: Path, port: int) -> subprocess.Popen:
    # as on a Space (its defaults), but for the rate limit: these visitors call faster than people do
    env = {**os.environ, "SPACE_ID": "soak/atelier", "ATELIER_RATE_PER_MINUTE": "0", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "app.py", "--port", str(port), "--gallery", str(gallery)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def call(http: httpx.Client, session: str, api_name: str, data: list) -> tuple[bool, object]:
    """(answered without error, the answer's data) of one REST call."""
    started = http.post(f"/call{api_name}", json={"data": data, "session_hash": session})
    if started.status_code != 200:
        return False, started.text
    text = http.get(f"/call{api_name}/{started.json()['event_id']}").text
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    datas = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    ok = bool(events) and events[-1] == "complete"
    return ok, (json.loads(datas[-1]) if datas and ok else text[-300:])


def rss(proc: subprocess.Popen) -> float:
    """MB resident, the server and its children."""
    p = psutil.Process(proc.pid)
    return (p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))) / 2**20


def soak(clients: int, requests: int) -> None:
    port, folder = free_port(), Path(tempfile.mkdtemp())
    proc = start_server(folder / "gallery", port)
    url = f"http://127.0.0.1:{port}/gradio_api"
    weights = [w for *_, w in MIX]
    times: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    answered, marks, lock = [0], {}, threading.Lock()
    peak = [0.0]

    def visitor(index: int) -> None:
        rng, made = random.Random(index), 0
        with httpx.Client(base_url=url, timeout=300) as http:
            while True:
                with lock:
                    if answered[0] >= requests:
                        return
                api_name, data, _ = rng.choices(MIX, weights)[0]
                data = [rng.randrange(10**6) if v == "SEED" else v for v in data]
                started = time.perf_counter()
                session = f"soak-{index}-{made // VISIT}"  # a visitor makes VISIT calls, then another comes
                ok, answer = call(http, session, api_name, data)
                made += 1
                with lock:
                    times[api_name].append(time.perf_counter() - started)
                    if not ok:
                        errors[api_name].append(str(answer)[:200])
                    answered[0] += 1

    def sample() -> None:
        while proc.poll() is None and answered[0] < requests:
            now = rss(proc)
            peak[0] = max(peak[0], now)
            for mark in (300,):
                if answered[0] >= mark and mark not in marks:
                    marks[mark] = now
            time.sleep(0.5)

    # warm: one call of each kind, so the models are loaded before the clock and the first RSS reading
    with httpx.Client(base_url=url, timeout=300) as http:
        for api_name, data, _ in MIX:
            call(http, "warm", api_name, [1 if v == "SEED" else v for v in data])
    start_rss, started = rss(proc), time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(clients)]
    watcher = threading.Thread(target=sample, daemon=True)
    for t in [*threads, watcher]:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    end_rss = rss(proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    rows = []
    for api_name, seconds in sorted(times.items()):
        q = statistics.quantiles(seconds, n=20) if len(seconds) > 1 else seconds * 19
        rows.append(
            {"endpoint": api_name, "calls": len(seconds), "errors": len(errors[api_name]),
             "p50 s": statistics.median(seconds), "p95 s": q[18]}
        )  # fmt: skip
    report("soak", rows)
    first = marks.get(300, start_rss)
    print(f"\n{clients} clients, {answered[0]} requests in {wall:.0f} s ({answered[0] / wall:.1f}/s)")
    change = f"{end_rss / first - 1:+.1%} (goal: within 10%)"
    print(f"server RSS (MB): after warm-up {start_rss:.0f}, after 300 requests {first:.0f}, peak {peak[0]:.0f}, "
          f"after {answered[0]} {end_rss:.0f}: {change}")  # fmt: skip
    for api_name, messages in errors.items():
        if messages:
            print(f"errors of {api_name}: {messages[:3]}")


def kill_once(rng: random.Random, folder: Path) -> dict[str, int]:
    """Start, ask for 64-image grids from 4 clients, SIGKILL at a random moment after the first grid
    was answered (so among saves, not only before the first), then check the gallery."""
    from gallery import Gallery, read_recipe

    port = free_port()
    proc = start_server(folder, port)
    url = f"http://127.0.0.1:{port}/gradio_api"
    answered: list[str] = []
    stop = threading.Event()

    def visitor(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                seed = rng.randrange(10**6) * 100
                try:
                    ok, answer = call(http, f"kill-{index}", "/gan_sample", [seed, 64, 0.8, "emoji-gan", False])
                except httpx.HTTPError:
                    return
                if ok:
                    answered.extend(Path(item["image"]["path"]).stem for item in answer[0])

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while not answered and time.time() < deadline:  # the models are loaded and grids are being saved
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    gallery = Gallery(folder)  # opening recovers
    rows = gallery._db.execute("SELECT id, recipe FROM images").fetchall()
    ids = {image_id for image_id, _ in rows}
    grids: dict[tuple, int] = defaultdict(int)
    broken = 0
    for image_id, recipe in rows:
        recipe = json.loads(recipe)
        grids[(recipe["params"]["batch_seed"], recipe["params"]["count"])] += 1
        try:
            broken += read_recipe(str(gallery.images_dir / f"{image_id}.png"))["id"] != image_id
        except Exception:
            broken += 1
    gallery.close()
    partial = sum(1 for (_, count), n in grids.items() if n != count)
    return {"broken": broken, "partial": partial, "lost": len(set(answered) - ids), "answered": len(answered)}


def kills(times: int) -> None:
    rng, folder = random.Random(0), Path(tempfile.mkdtemp()) / "gallery"
    totals: dict[str, int] = defaultdict(int)
    for i in range(times):
        for key, value in kill_once(rng, folder).items():
            totals[key] += value
        print(f"kill {i + 1}/{times}: {dict(totals)}", flush=True)
    report("kill", [{"kills": times, **totals}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=0, help="then this many SIGKILLs mid-request")
    parser.add_argument("--no-soak", action="store_true")
    args = parser.parse_args()
    if not args.no_soak:
        soak(args.clients, args.requests)
    if args.kills:
        kills(args.kills)


if __name__ == "__main__":
    main()
