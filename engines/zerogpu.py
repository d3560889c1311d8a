"""Engine work as module functions with picklable arguments, so that a ZeroGPU Space can run it.

On a ZeroGPU Space, `spaces.GPU` runs a decorated function in a forked worker that holds a GPU
for the length of the call. Arguments, yielded values and results cross to it and back by
pickle, and an exception other than `gr.Error` reaches the app only as "ZeroGPU worker error".
So the app reaches the engines through `run` and `draw_steps` alone, with picklable arguments
(the engines' key, names, numbers, file paths, as keyword arguments). The worker finds the engines in the module
state it inherited at fork, with the models that `engines.preload` loaded at start. The engines'
own errors travel back as values, so their messages reach the user.

Without the `spaces` package, or off ZeroGPU (where `spaces.GPU` returns the function as it is),
these are ordinary calls in the app's process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from engines.errors import InputError, ModelUnavailable

# Seconds of GPU asked for per call. ZeroGPU serves shorter requests first and ends a call that
# overruns, so these follow the work: a GAN, VAE or class-grid call is well under a second of
# GPU time; a diffusion draw costs per image-step (SDXL-Turbo at 512² is ~0.05 s on an A100,
# DiT-XL/2 with guidance ~0.03 s), plus moving the weights onto the GPU at a call's start.
CALL_SECONDS = 20
DRAW_BASE_SECONDS = 15
DRAW_SECONDS_PER_IMAGE_STEP = 0.1
DRAW_MAX_SECONDS = 120

_ENGINES: dict[int, Any] = {}  # id(Engines) -> Engines; a worker forked later inherits this


def register(engines: Any) -> int:
    """Make an Engines reachable from GPU workers; returns the key to pass to `run`/`draw_steps`."""
    _ENGINES[id(engines)] = engines
    return id(engines)


def gpu(duration: Any):
    """`spaces.GPU(duration=...)` where the `spaces` package is installed, else nothing."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def draw_seconds(key: int, task: str, settings: dict[str, Any]) -> int:
    """The GPU time to ask for one draw, from its steps and batch (bad values: the engine says so)."""
    try:
        work = max(1.0, float(settings.get("steps") or 1)) * max(1.0, float(settings.get("count") or 1))
    except (TypeError, ValueError):
        work = 1.0
    work = min(work, DRAW_MAX_SECONDS / DRAW_SECONDS_PER_IMAGE_STEP)  # also catches NaN and inf
    return int(min(DRAW_MAX_SECONDS, DRAW_BASE_SECONDS + DRAW_SECONDS_PER_IMAGE_STEP * work))


class Failed:
    """An engine's InputError or ModelUnavailable, carried back as a value."""

    def __init__(self, error: Exception):
        self.error = error


@gpu(duration=CALL_SECONDS)
def _call(key: int, task: str, method: str, kwargs: dict[str, Any]) -> Any:
    try:
        return getattr(_ENGINES[key].engine(task), method)(**kwargs)
    except (InputError, ModelUnavailable) as error:
        return Failed(error)


def run(key: int, task: str, method: str, **kwargs: Any) -> Any:
    """`engines.<task>.<method>(**kwargs)`, on a GPU worker on ZeroGPU. Keyword arguments only, so
    a reader (and an IDE) can follow each value from the page to the engine's parameter."""
    result = _call(key, task, method, kwargs)
    if isinstance(result, Failed):
        raise result.error
    return result


@gpu(duration=draw_seconds)
def draw_steps(key: int, task: str, settings: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """One diffusion draw (`engines.<task>.draw(**settings)`): yields ("step", Progress) after each
    step, then ("done", images), or ("error", InputError | ModelUnavailable). Closing the
    generator (Stop, a closed page) ends the draw after its current step."""
    engine = _ENGINES[key].engine(task)
    stop = threading.Event()
    updates: queue.Queue = queue.Queue()

    def work() -> None:  # the engine reports steps through a callback; this turns them into yields
        try:
            updates.put(("done", engine.draw(**settings, on_step=lambda p: updates.put(("step", p)), stop=stop)))
        except (InputError, ModelUnavailable) as error:
            updates.put(("error", error))
        except BaseException as error:  # a bug: raised in the caller below, not lost in this thread
            updates.put(("crash", error))

    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            kind, value = updates.get()
            if kind == "crash":
                raise value
            yield kind, value
            if kind != "step":
                return
    finally:
        stop.set()
