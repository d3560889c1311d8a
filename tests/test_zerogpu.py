"""ZeroGPU's contract, simulated: a stand-in `spaces` package whose GPU decorator does what the
real one does at the process boundary. Arguments, yielded values and results go through pickle,
only gr.Error crosses as itself (anything else becomes "ZeroGPU worker error"), closing the
caller's generator closes the worker's, and the requested duration is evaluated with the call's
arguments. The app served over it must behave as it does without it."""

from __future__ import annotations

import importlib
import inspect
import pickle
import sys
import time
import types

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file

import app
from engines import create_engines, zerogpu
from engines.registry import Registry
from engines.runtime import Runtime
from gallery import Gallery, read_recipe


def across_processes(value):
    return pickle.loads(pickle.dumps(value))


def stand_in_spaces(requests: list[tuple[str, int]]) -> types.ModuleType:
    def GPU(task=None, *, duration=60, size=None):
        def decorate(fn):
            def seconds(args, kwargs) -> None:
                requested = duration(*args, **kwargs) if callable(duration) else duration
                assert isinstance(requested, int) and 0 < requested <= 120
                requests.append((fn.__name__, requested))

            def worker_error(error: Exception) -> Exception:
                return error if isinstance(error, gr.Error) else gr.Error("ZeroGPU worker error")

            if inspect.isgeneratorfunction(fn):

                def generator_handler(*args, **kwargs):
                    seconds(args, kwargs)
                    steps = fn(*across_processes(args), **across_processes(kwargs))
                    try:
                        while True:
                            try:
                                item = next(steps)
                            except StopIteration:
                                return
                            except Exception as error:
                                raise worker_error(error) from None
                            yield across_processes(item)
                    finally:
                        steps.close()

                return generator_handler

            def handler(*args, **kwargs):
                seconds(args, kwargs)
                try:
                    return across_processes(fn(*across_processes(args), **across_processes(kwargs)))
                except Exception as error:
                    raise worker_error(error) from None

            return handler

        return decorate if task is None else decorate(task)

    module = types.ModuleType("spaces")
    module.GPU = GPU
    return module


@pytest.fixture(scope="module")
def zero_gpu_app(tiny_checkpoints, tmp_path_factory):
    requests: list[tuple[str, int]] = []
    sys.modules["spaces"] = stand_in_spaces(requests)
    importlib.reload(zerogpu)  # its functions are decorated at import
    engines = create_engines(Registry(tiny_checkpoints), Runtime(torch.device("cpu"), torch.float32))
    gallery = Gallery(tmp_path_factory.mktemp("zerogpu-gallery"))
    demo = app.build_app(engines, gallery)
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_port=None, quiet=True, **app.launch_kwargs(demo))
    yield Client(url, verbose=False), gallery, requests
    demo.close()
    gallery.close()
    del sys.modules["spaces"]
    importlib.reload(zerogpu)
    assert zerogpu.gpu(1)(len) is len  # back to plain calls for the other tests


def test_engine_calls_cross_the_boundary(zero_gpu_app, sample_png):
    client, gallery, requests = zero_gpu_app
    grid = client.predict(11, 4, 0.8, "tiny-gan", api_name="/gan_sample")
    assert [item["caption"] for item in grid] == ["#11", "#12", "#13", "#14"]
    assert ("_call", zerogpu.CALL_SECONDS) in requests
    *_, scores = client.predict(handle_file(str(sample_png)), "tiny-vae", api_name="/vae_reconstruct")
    assert "PSNR" in scores and gallery.list()[0].recipe["operation"] == "reconstruct"
    rows = client.predict(9, 2, 0.8, "tiny-cgan", api_name="/conditional_class_grid")
    assert len(rows) % 2 == 0 and read_recipe(rows[0]["image"])["engine"] == "conditional"


def test_engine_errors_keep_their_message(zero_gpu_app, tmp_path):
    client, gallery, _ = zero_gpu_app
    before = gallery.count()
    not_an_image = tmp_path / "upload.png"
    not_an_image.write_bytes(b"definitely not an image")
    calls = [
        ("/vae_sample", (1, 2, "no-such-model"), "unknown vae model"),
        ("/vae_reconstruct", (handle_file(str(not_an_image)), "tiny-vae"), "not an image"),
        ("/text_to_image", ("cat", "", 0, 1, 2, 3.0, "model default", "stabilityai/sd-turbo"), "unavailable"),
    ]
    for endpoint, args, message in calls:
        with pytest.raises(Exception, match=f"(?i){message}") as raised:
            client.predict(*args, api_name=endpoint)
        assert "ZeroGPU" not in str(raised.value)
    assert gallery.count() == before


def test_text_draws_stream_and_stop(zero_gpu_app):
    client, gallery, requests = zero_gpu_app
    images, status = client.predict("a cat", "", 30, 2, 3, 3.0, "model default", "tiny-ldm", api_name="/text_to_image")
    assert len(images) == 2 and "saved" in status
    assert ("draw_steps", zerogpu.draw_seconds(0, "text", {"steps": 3, "count": 2})) in requests
    recipe = read_recipe(images[1]["image"])
    assert recipe["seed"] == 31 and recipe["prompt"] == "a cat"
    before = gallery.count()
    job = client.submit("a slow cat", "", 0, 8, 100, 3.0, "model default", "tiny-ldm", api_name="/text_to_image")
    while job.status().code.name != "ITERATING":
        time.sleep(0.05)
    client.predict(api_name="/text_stop")
    images, status = job.result(timeout=120)
    assert all(item["caption"] == "stopped · not saved" for item in images)
    assert "stopped at step" in status and gallery.count() == before


def test_draw_seconds_follow_the_work():
    assert zerogpu.draw_seconds(0, "text", {"steps": 1, "count": 1}) == zerogpu.DRAW_BASE_SECONDS
    assert zerogpu.draw_seconds(0, "text", {"steps": 50, "count": 8}) == int(
        zerogpu.DRAW_BASE_SECONDS + 400 * zerogpu.DRAW_SECONDS_PER_IMAGE_STEP
    )
    assert zerogpu.draw_seconds(0, "text", {"steps": 10**6, "count": 8}) == zerogpu.DRAW_MAX_SECONDS
    for nonsense in ({"steps": "many"}, {"steps": float("nan"), "count": 2}, {"steps": float("inf")}, {}):
        assert zerogpu.DRAW_BASE_SECONDS <= zerogpu.draw_seconds(0, "dit", nonsense) <= zerogpu.DRAW_MAX_SECONDS
