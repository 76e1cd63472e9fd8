"""Run agreement computations with single-threaded BLAS.

Our matrix products are skinny (items x categories times categories x categories, or resample
counts times a few per-item features): threads buy nothing there, and on a busy machine OpenBLAS
threads that wait for a core made Krippendorff's alpha on 100,000 items three times slower. So the
public entry points limit BLAS to one thread for their duration (threadpoolctl, which scikit-learn
already requires; without it this is a no-op).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

try:  # pragma: no cover - threadpoolctl ships with scikit-learn
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None

F = TypeVar("F", bound=Callable[..., Any])
_controller: Any = None
_depth = 0


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (re-entrant; cheap when nested)."""
    global _controller, _depth
    if ThreadpoolController is None or _depth > 0:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    if _controller is None:
        _controller = ThreadpoolController()
    _depth += 1
    try:
        with _controller.limit(limits=1, user_api="blas"):
            yield
    finally:
        _depth -= 1


def blas_single_thread(fn: F) -> F:
    """Decorator form of `single_threaded_blas`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
