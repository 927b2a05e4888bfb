"""Turn SIGINT and SIGTERM into ``KeyboardInterrupt`` while a run executes.

Sacred marks a run INTERRUPTED when its main function raises ``KeyboardInterrupt``; SIGTERM
would otherwise kill the process without that. Only the first signal raises: later ones (a
forwarded SIGTERM right after Ctrl-C, say) would break Sacred's bookkeeping of the interrupt.

The exception is a block marked ``insist`` (the training loop, which holds no bookkeeping). A
``KeyboardInterrupt`` can be swallowed: pickling a checkpoint runs ``copyreg._slotnames`` for every
``OrderedDict``, and its bare ``except:`` eats one that a handler raises inside it; the run then went
on and the matrix waited for it forever. So a later signal that finds the run still inside the
insisting block where the first one was raised, with no interrupt being handled, raises again.

An ``insist`` block also keeps an interrupt an interrupt when library clean-up on its way out replaced
it with another exception (numpy's ``savez`` interrupted with a zip entry open raises zipfile's "Can't
close the ZIP file" ``ValueError`` from its ``finally``): an exception leaving the block with a
``KeyboardInterrupt`` in its ``__context__`` chain is raised again as that interrupt, so the run is
marked INTERRUPTED, not FAILED.

Nested blocks share the outermost handlers. Handlers can only be installed from a process's
main thread; elsewhere (a run inside a Dask worker thread) the block can instead watch a stop
file, which the matrix driver creates on its first SIGINT/SIGTERM, and raise ``KeyboardInterrupt``
in the run's thread when the file appears.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# depth: nested blocks; fired: a signal has raised; fired_depth: the depth it raised at; insist: the depth of
# the innermost active ``insist`` block (0: none)
_state = {"depth": 0, "fired": False, "fired_depth": 0, "insist": 0}


STOP_FILE_POLL_S = 0.2


@contextlib.contextmanager
def interrupt_on_signals(
    on_signal: Callable[[int], None] | None = None, stop_file: str | None = None, insist: bool = False
) -> Iterator[bool]:
    """Inside the block the first SIGINT/SIGTERM raises KeyboardInterrupt; yields whether it is armed.

    ``insist``: the block holds only the run's own work, none of Sacred's bookkeeping; later signals raise
    again while the run is still inside it after the first one raised there, and an interrupt that clean-up
    code turned into another exception is raised again as the interrupt (see the module docstring).
    Outside the main thread signals cannot be caught here; with ``stop_file`` the block raises
    KeyboardInterrupt once that file exists instead (see ``_interrupt_when_file_exists``).
    """
    try:
        with _interrupts(on_signal, stop_file, insist) as armed:
            yield armed
    except Exception as err:
        interrupt = masked_interrupt(err) if insist else None
        if interrupt is None:
            raise
        raise KeyboardInterrupt(*interrupt.args) from err


def masked_interrupt(err: BaseException) -> KeyboardInterrupt | None:
    """The ``KeyboardInterrupt`` in ``err``'s ``__context__`` chain (one that clean-up code, handling it,
    replaced with ``err``), or None."""
    seen = err.__context__
    while seen is not None and not isinstance(seen, KeyboardInterrupt):
        seen = seen.__context__
    return seen


@contextlib.contextmanager
def _interrupts(on_signal: Callable[[int], None] | None, stop_file: str | None, insist: bool) -> Iterator[bool]:
    """``interrupt_on_signals`` without the unmasking: installs the handlers (or the stop-file watcher)."""
    if threading.current_thread() is not threading.main_thread():
        if stop_file is None:
            yield False
        else:
            with _interrupt_when_file_exists(stop_file):
                yield True
        return
    if _state["depth"] > 0:  # an outer block already handles signals
        outer_insist = _state["insist"]
        _state["depth"] += 1
        if insist:
            _state["insist"] = _state["depth"]
        try:
            yield True
        finally:
            _state["depth"] -= 1
            _state["insist"] = outer_insist
        return

    def handler(signum, frame):
        if on_signal is not None:
            on_signal(signum)
        if not _state["fired"]:
            _state.update(fired=True, fired_depth=_state["depth"])
            raise KeyboardInterrupt(signal.Signals(signum).name)
        if 0 < _state["insist"] <= min(_state["depth"], _state["fired_depth"]) and not isinstance(
            sys.exc_info()[1], KeyboardInterrupt
        ):  # the first one was swallowed, not still on its way out
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, handler)
    _state.update(depth=1, fired=False, fired_depth=0, insist=1 if insist else 0)
    try:
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        _state.update(depth=0, fired=False, fired_depth=0, insist=0)


@contextlib.contextmanager
def _interrupt_when_file_exists(path: str) -> Iterator[None]:
    """Raise KeyboardInterrupt in the calling thread once ``path`` exists (polled every
    ``STOP_FILE_POLL_S``).

    The exception is delivered asynchronously (``PyThreadState_SetAsyncExc``) at the thread's next
    Python instruction, so a run inside a torch operation stops as soon as that operation returns.
    """
    target = threading.get_ident()
    lock = threading.Lock()  # orders "raise in the block" against "the block has ended"
    fired = False
    done = threading.Event()

    def watch() -> None:
        nonlocal fired
        while not done.wait(STOP_FILE_POLL_S):
            if os.path.exists(path):
                with lock:
                    if not done.is_set():
                        fired = True
                        _async_raise(target, KeyboardInterrupt)
                return

    watcher = threading.Thread(target=watch, name="pearl-bench-stop-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            if fired:  # the block may have ended before the exception arrived: drop it
                _async_raise(target, None)
        watcher.join()


def _async_raise(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Schedule ``exc_type`` in thread ``thread_id`` (None clears a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )
