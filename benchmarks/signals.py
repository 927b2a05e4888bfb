"""Turn SIGINT and SIGTERM into ``KeyboardInterrupt`` while a run executes.

Sacred marks a run INTERRUPTED when its main function raises ``KeyboardInterrupt``; SIGTERM
would otherwise kill the process without that. Only the first signal raises: later ones (a
forwarded SIGTERM right after Ctrl-C, say) would break Sacred's bookkeeping of the interrupt.
Nested blocks share the outermost handlers. Handlers can only be installed from a process's
main thread, so elsewhere (e.g. inside a Dask worker thread) this is a no-op.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"depth": 0, "fired": False}


@contextlib.contextmanager
def interrupt_on_signals(on_signal: Callable[[int], None] | None = None) -> Iterator[bool]:
    """Inside the block the first SIGINT/SIGTERM raises KeyboardInterrupt; yields whether handlers are active."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    if _state["depth"] > 0:  # an outer block already handles signals
        _state["depth"] += 1
        try:
            yield True
        finally:
            _state["depth"] -= 1
        return

    def handler(signum, frame):
        if on_signal is not None:
            on_signal(signum)
        if not _state["fired"]:
            _state["fired"] = True
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, handler)
    _state.update(depth=1, fired=False)
    try:
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        _state.update(depth=0, fired=False)
