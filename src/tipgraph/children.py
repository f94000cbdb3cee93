"""What every process a build starts does first (the reading process, the store's loader,
the dump writers)."""

from __future__ import annotations

import contextlib
import ctypes
import signal

try:  # loaded once, here: a process forked from a threaded one had better not dlopen
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
except OSError:  # not Linux
    _LIBC = None


def die_with_parent() -> None:
    """Have the kernel kill this process (one the build started) when the build dies, were
    it killed itself (Linux ``PR_SET_PDEATHSIG``; nothing elsewhere): no loader or writer
    goes on in a build directory nobody finishes."""
    with contextlib.suppress(OSError, AttributeError):
        _LIBC.prctl(1, signal.SIGKILL)  # type: ignore[union-attr]  # 1: PR_SET_PDEATHSIG
