"""Training batches made ahead in a background thread (``train.prefetch``, off by default).

Why: on a GPU the trainer waits for each step's kernels when it reads the loss back, and the CPU-side
batching (padding, collation, transposition, the copy to the device: about 1 ms a batch) then adds to every
step: 9-17% of the epoch on Brown on an H100 (docs/performance.md). Made in a thread, the next batch can be
built during that wait, which releases the GIL. Whether it pays on a GPU is not measured yet
(``benchmarks/epoch.py --device cuda --prefetch``), and on the CPU it does not pay (the thread competes
with the training loop for the GIL: docs/performance.md), hence off by default.

The batches are the same, in the same order: the tasks build them from random generators of their own,
seeded by (seed, epoch), never from the global RNGs the model's dropout draws from (a producer that did
would make the batches depend on thread timing).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of ``items`` in order, each made up to ``depth`` items ahead in a background thread.

    An error raised while making an item is raised here, after the items made before it. Closing this
    generator (``close()``, or leaving a ``with closing(...)`` block early) stops the thread, waits for it
    (at most the item it is making) and closes ``items``.
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be at least 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():  # a bounded wait, so a consumer that stopped listening is noticed
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item) or stop.is_set():
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            put(_Raised(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="deeprnn-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        while True:  # room in the queue, so a producer waiting to put sees the stop at once
            try:
                ready.get_nowait()
            except queue.Empty:
                break
        thread.join()
