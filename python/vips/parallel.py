"""Running independent jobs on this machine's cores or on a Ray cluster, one failing job never stopping the rest.

:func:`run_local` is a small process pool managed by hand: ``concurrent.futures`` breaks the whole pool when one
worker dies (a segfault in a native library, the kernel's OOM killer), whereas here the dead worker's job is
reported failed, the worker is replaced and the run goes on. Workers can be given an address-space limit, so a
job that asks for too much memory fails with ``MemoryError`` instead of taking the machine down, and a
per-job time limit. :func:`run_ray` runs the same function as Ray tasks. Both yield ``(job, result)`` pairs in
completion order, where a failed job's result is the exception; :func:`describe_failure` turns it into the
one-line reason reports show, the same for both engines.

Interrupts belong to the parent: local workers start with SIGINT and SIGTERM blocked and then ignore them (a
Ctrl-C in the terminal reaches the whole process group, and a worker still importing would print a
traceback), and on Linux they die with their parent. When the parent stops iterating (an interrupt, an
error), running workers are killed at once and pending Ray tasks are cancelled. :func:`signals_interrupt` makes
SIGTERM interrupt the parent as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from vips.errors import MissingExtra, VipsError


class JobFailed(Exception):
    """A job raised in a worker process; carries the original exception's type name, message and traceback."""

    def __init__(self, type_name: str, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.trace = trace


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM) interrupted the run; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def interrupt_signal(exc: KeyboardInterrupt) -> int:
    """The signal behind an interrupt: :attr:`Interrupted.signum`, SIGINT for a plain ``KeyboardInterrupt``."""
    return getattr(exc, "signum", int(signal.SIGINT))


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While the block runs (in the main thread), SIGINT and SIGTERM raise :class:`Interrupted` once; further
    ones are ignored until the block ends, so the interrupted run can stop its workers and write its report.
    Elsewhere than in the main thread, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame) -> None:  # noqa: ANN001
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


_PARENT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _start_without_signals(process: multiprocessing.process.BaseProcess) -> None:
    """Start a worker with SIGINT and SIGTERM blocked: it inherits the blocked mask across exec, so an interrupt
    during its start-up (imports) waits, and :func:`_worker_main` then ignores it. The parent gets any such
    signal when they are unblocked here."""
    if not hasattr(signal, "pthread_sigmask"):
        process.start()
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _leave_signals_to_parent() -> None:
    """In a worker: ignore SIGINT and SIGTERM (the parent stops its workers), and on Linux die with the parent."""
    for s in _PARENT_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:  # the parent died before prctl
            os._exit(1)


class WorkerDied(VipsError):
    """The worker process running a job exited without answering (crash, ``os._exit``, killed)."""


class JobTimeout(VipsError):
    """A job ran past its time limit; its worker was killed."""


def describe_failure(exc: BaseException) -> str:
    """One line for a report: ``TypeName: message``, with the original type for jobs that failed remotely."""
    name = exc.type_name if isinstance(exc, JobFailed) else type(exc).__name__
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
    return f"{name}: {message}"


def single_threaded_spawn():  # noqa: ANN201 - a multiprocessing context
    """A spawn context whose workers run OpenMP on one thread: the pool already fills the cores, and nested
    OpenMP teams on oversubscribed cores stall at every barrier. Spawned children read the environment at
    start, so it is set here, before any worker exists."""
    os.environ["OMP_NUM_THREADS"] = "1"
    return multiprocessing.get_context("spawn")


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(conn: Connection, fn: Callable[..., Any], args: tuple, memory_limit: int | None) -> None:
    """Worker loop: receive ``(index, job)``, answer ``(index, ok, payload)``; ``None`` ends the loop."""
    _leave_signals_to_parent()
    if memory_limit:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        index, job = message
        try:
            conn.send((index, True, fn(job, *args)))
        except MemoryError as exc:
            limit = f" (the per-worker memory limit is {memory_limit / 2**30:.1f} GiB)" if memory_limit else ""
            conn.send((index, False, ("MemoryError", f"out of memory{limit}: {exc}", traceback.format_exc())))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as a report line
            conn.send((index, False, (type(exc).__name__, str(exc), traceback.format_exc())))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    index: int | None = None  # the job it is running
    deadline: float = field(default=float("inf"))


def run_local(
    fn: Callable[..., Any],
    jobs: Iterable[Any],
    args: tuple = (),
    workers: int | None = None,
    memory_limit: int | None = None,
    timeout: float | None = None,
) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(job, *args)`` for every job in ``workers`` spawned processes (default: all cores).

    Args:
        fn, args: a module-level function and extra arguments (both picklable).
        memory_limit: address-space limit of each worker in bytes (``RLIMIT_AS``), or None.
        timeout: seconds one job may run before its worker is killed, or None.

    Yields:
        ``(job, result)`` in completion order; for a failed job the result is a :class:`JobFailed`,
        :class:`WorkerDied` or :class:`JobTimeout` exception. A dead or killed worker is replaced.
    """
    jobs = list(jobs)
    if not jobs:
        return
    ctx = single_threaded_spawn()
    count = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    pool: list[_Worker] = []
    queue = list(range(len(jobs)))[::-1]  # popped from the end, so jobs start in order

    def start() -> _Worker:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, fn, args, memory_limit), daemon=True)
        _start_without_signals(proc)
        child.close()
        return _Worker(proc, parent)

    def feed(w: _Worker) -> None:
        if queue:
            w.index = queue.pop()
            w.deadline = time.monotonic() + timeout if timeout else float("inf")
            w.conn.send((w.index, jobs[w.index]))

    try:
        for _ in range(count):
            pool.append(start())
            feed(pool[-1])
        while any(w.index is not None for w in pool):
            busy = [w for w in pool if w.index is not None]
            wait_for = min(w.deadline for w in busy) - time.monotonic()
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                         timeout=None if wait_for == float("inf") else max(wait_for, 0.0))
            for w in busy:
                index, outcome = w.index, None
                if w.conn in ready or w.process.sentinel in ready:
                    outcome = _answer(w)
                elif time.monotonic() >= w.deadline:
                    w.process.kill()
                    outcome = JobTimeout(f"ran over the time limit of {timeout:g} s; its worker was stopped")
                if outcome is None:
                    continue
                if not w.process.is_alive() or isinstance(outcome, JobTimeout):
                    w.process.join()
                    w.conn.close()
                    pool[pool.index(w)] = w = start()
                w.index = None
                yield jobs[index], outcome
                feed(w)
    finally:
        # Idle workers are told to stop; busy ones only are when the caller stopped early (interrupt, error).
        for w in pool:
            if w.index is not None:
                w.process.kill()
            elif w.process.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in pool:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()


def _answer(w: _Worker) -> Any:
    """The worker's answer for its job, or :class:`WorkerDied` when it exited without one."""
    try:
        if w.conn.poll():
            index, ok, payload = w.conn.recv()
            return payload if ok else JobFailed(*payload)
    except (EOFError, OSError):
        pass
    if w.process.is_alive():  # the sentinel fired but the process has not quite finished exiting
        w.process.join(timeout=5)
    return WorkerDied(f"the worker process died ({_exit_reason(w.process.exitcode)}) while running this job")


def ray_init():  # noqa: ANN201 - the ray module
    """Import Ray and connect: ``RAY_ADDRESS`` (Ray's usual setting) selects a cluster; without it a local one
    is started. A session already initialized by the caller is used as it is."""
    try:
        import ray
    except ImportError:
        raise MissingExtra("--engine ray", "ray", "dist") from None
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    return ray


def run_ray(fn: Callable[..., Any], jobs: Iterable[Any], args: tuple = (), retries: int | None = 0,
            ) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(job, *args)`` for every job as a Ray task. Yields ``(job, result)`` as tasks finish; a failed
    task's result is the exception (the task's own exception, or :class:`WorkerDied` when its worker crashed).

    ``retries``: Ray's ``max_retries`` for system failures (None keeps Ray's default); 0 reports a crash at once.
    """
    ray = ray_init()
    from ray.exceptions import RayTaskError, WorkerCrashedError

    options = {} if retries is None else {"max_retries": retries}
    remote = ray.remote(**options)(fn) if options else ray.remote(fn)
    pending = {remote.remote(job, *args): job for job in jobs}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except RayTaskError as exc:
                    cause = exc.cause if exc.cause is not None else exc
                    result = JobFailed(type(cause).__name__, str(cause))
                except WorkerCrashedError:
                    result = WorkerDied("the worker process died while running this job")
                except Exception as exc:  # noqa: BLE001 - any other task failure is reported, not raised
                    result = exc
                yield job, result
    finally:  # stopped early (interrupt, error): the tasks not finished are cancelled
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
