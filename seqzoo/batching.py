"""The batch helpers every prediction shares, without Keras (so the NumPy engine's small jobs
never import TensorFlow): strand averaging of one batch, a prefetch thread reading the next batch
while the model runs, and a writer thread formatting the last one behind it."""

import contextlib
import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def predict_batch(model, x: np.ndarray, rc: bool = False) -> np.ndarray:
    """Predictions of ``model`` (anything with ``predict_on_batch``: ``seqzoo.runtime.ZooModel``,
    ``seqzoo.numpy_engine.NumpyModel``) for one batch, optionally averaged with the reverse complement."""
    if not rc:
        return model.predict_on_batch(x)
    both = model.predict_on_batch(np.concatenate([x, x[:, ::-1, ::-1]]))
    return (both[: len(x)] + both[len(x):]) / 2


@contextlib.contextmanager
def write_behind(write: Callable[[Any], None], depth: int = 2) -> Iterator[Callable[[Any], None]]:
    """Call ``write`` on a background thread, in order, at most ``depth`` queued items (and the
    one being written) behind the caller,
    so that formatting and writing one batch's output overlaps the next batch's prediction.

    Yields the function to hand items to. An error of ``write`` is raised in the caller, at its
    next item or on leaving; leaving on an error of the caller's drops what is still queued. Either
    way the thread has ended when the block is left, so the output can be closed or discarded.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []
    abandon = threading.Event()

    def consume():
        while (item := items.get()) is not done:
            if failure or abandon.is_set():
                continue  # keep draining, so the caller never blocks on a full queue
            try:
                write(item)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                failure.append(e)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()

    def put(item) -> None:
        if failure:
            raise failure[0]
        items.put(item)

    try:
        yield put
    except BaseException:
        abandon.set()
        raise
    finally:
        items.put(done)
        thread.join()
        if failure and sys.exc_info()[1] is not None and sys.exc_info()[1] is not failure[0]:
            logger.error("the output writer failed too: %r", failure[0])  # the caller's error is raised
    if failure:
        raise failure[0]


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run ``iterator`` in a background thread, ``depth`` items ahead; re-raise its errors."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put(item)
            items.put(done)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            items.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.05)
