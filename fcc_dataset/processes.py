"""Child processes that end with their parent, whatever kills it (SIGKILL included).

A parent that dies without shutting its pool down (SIGKILL, the OOM killer) leaves
the workers behind: `ProcessPoolExecutor`'s wait forever on a queue whose pipe they
hold the write end of too, `multiprocessing.Pool`'s finish the task in hand first,
and either keeps its memory and its ffmpeg next to the rerun. On Linux every worker
therefore asks the kernel, first thing, for SIGKILL when its parent dies (prctl
PR_SET_PDEATHSIG), and so does every program a worker starts (`end_with_parent`, a
subprocess preexec_fn).

The kernel sends that signal when the *thread* that started the child exits, not
only when the process does. Which threads start workers (CPython 3.11, spawn):

* `ProcessPoolExecutor`: `submit()`, in the calling thread. Its manager thread starts
  replacements only with `max_tasks_per_child`, which `executor` does not set (a
  crashed worker breaks the pool instead).
* `multiprocessing.Pool`: `Pool()`, in the calling thread; its worker-handler thread
  replaces workers that died, and exits only when the pool is closed or terminated,
  at which point its workers are being ended anyway.

So the pools here must be created, used and shut down by one thread that blocks
until they are shut down (both commands do that in their main thread): every thread
that can start a worker then outlives the pool's use, and the signal never fires
while the parent is alive and still needs its workers.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

# Spawned, not forked: the parent may hold threads (TensorFlow, OpenCV, tqdm) and
# locks that a fork would copy in a broken state.
SPAWN = multiprocessing.get_context("spawn")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_EXIT_CODE = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    # Declared once here, so a call in a forked child converts plain ints only.
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies; exit now if it has.

    The parent may die before the prctl call takes effect: then this process has
    already been handed to init (or a subreaper), and `getppid()` no longer returns
    `parent_pid`. Elsewhere than Linux only that check is made.
    """
    if _PRCTL is not None and _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent_pid:
        os._exit(ORPHAN_EXIT_CODE)  # nobody is left to report to or clean up after


def end_with_parent() -> Callable[[], None]:
    """A `preexec_fn` for subprocess: the program started dies when this process does.

    It runs in the forked child before exec and does only a prctl and a getppid (no
    imports, no locks), which keeps it safe in a process with threads. The signal
    survives exec. The thread that starts the child must outlive it, which
    `subprocess.run` (waiting in that thread) guarantees.
    """
    return functools.partial(die_with_parent, os.getpid())


def _start_worker(parent_pid: int, initializer: Callable[..., Any] | None,
                  initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def executor(jobs: int, initializer: Callable[..., Any] | None = None,
             initargs: tuple = ()) -> ProcessPoolExecutor:
    """A spawned `ProcessPoolExecutor` whose workers end with this process.

    Submit and shut it down from the thread that made it (see the module).
    """
    return ProcessPoolExecutor(jobs, mp_context=SPAWN, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def pool(jobs: int, initializer: Callable[..., Any] | None = None,
         initargs: tuple = ()) -> multiprocessing.pool.Pool:
    """A spawned `multiprocessing.Pool` whose workers end with this process.

    Use and terminate it from the thread that made it (see the module).
    """
    return SPAWN.Pool(jobs, _start_worker, (os.getpid(), initializer, initargs))
