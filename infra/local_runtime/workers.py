"""Lambda functions as pools of worker processes.

Each worker is a fresh interpreter (spawned, never forked) that holds exactly one function. It starts
with exactly the function's environment (template variables plus what the Lambda runtime sets), puts
the function's code directory and layers first on ``sys.path`` like ``/var/task`` and ``/opt/python``,
imports the handler once and then serves invocations over a ``multiprocessing.connection`` socket, one
at a time, like a Lambda sandbox. A worker that times out or dies is replaced, as Lambda replaces a
sandbox.

Workers are started with ``subprocess`` rather than ``multiprocessing``'s "spawn" start method because
spawn re-runs the parent's ``__main__`` module in every child: a script using LocalRuntime without an
``if __name__ == "__main__"`` guard would recurse, and under pytest every worker would import pytest.
Workers run in their own session (Ctrl-C in a terminal reaches only the runtime, which stops them) and
exit on their own if the runtime disappears.

This module must stay importable without moto or boto3: it is what the workers import.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger("local_runtime")

READY_TIMEOUT_S = 60.0


# ------------------------------------------------------------------------------------------- child side
class LambdaContext:
    """The context object the Python Lambda runtime passes (attribute names and types as in awslambdaric)."""

    def __init__(self, spec: dict[str, Any], request_id: str, deadline_ms: int) -> None:
        self.function_name: str = spec["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = spec["arn"]
        self.memory_limit_in_mb: str = str(spec["memory_mb"])
        self.aws_request_id = request_id
        self.log_group_name: str = spec["log_group"]
        self.log_stream_name: str = spec["log_stream"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def _error_payload(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": stack or []}


def _load_handler(spec: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    module_path, _, function_name = spec["handler"].rpartition(".")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the handler's module failed to import: Lambda's Runtime.ImportModuleError
        _report(spec, f"Unable to import module '{module_name}'", error)
        for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
            del sys.modules[name]
        return None, _error_payload(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}", _stack(error)
        )
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        print(f"[local_runtime] {spec['function_id']}: {message}", file=sys.stderr, flush=True)
        return None, _error_payload("Runtime.HandlerNotFound", message)
    return handler, None


def _stack(error: BaseException) -> list[str]:
    return [line.rstrip("\n") for line in traceback.format_tb(error.__traceback__)]


def _report(spec: dict[str, Any], what: str, error: BaseException) -> None:
    text = "".join(traceback.format_exception(error))
    print(
        f"[local_runtime] {spec['function_id']} ({spec['function_name']}): {what}\n{text}", file=sys.stderr, flush=True
    )


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(0)


def child_main(fd: int) -> None:
    """Entry point of a worker process: the spec arrives as the first message on the connection."""
    conn = Connection(fd)
    spec, parent_pid = conn.recv()
    worker_main(conn, spec, parent_pid)


def worker_main(conn: Any, spec: dict[str, Any], parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path[:] = [spec["code_dir"], *spec["layer_dirs"], *spec["base_paths"]]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()

    handler, init_error = _load_handler(spec)
    conn.send(("ready", init_error))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if message is None:
            os._exit(0)
        request_id, event_json, deadline_ms = message
        if handler is None:
            handler, init_error = _load_handler(spec)  # Lambda retries the init on the next invoke
            if handler is None:
                conn.send(("error", init_error))
                continue
        context = LambdaContext(spec, request_id, deadline_ms)
        try:
            result = handler(json.loads(event_json), context)
        except Exception as error:
            _report(spec, f"invocation {request_id} failed", error)
            conn.send(("error", _error_payload(type(error).__name__, str(error), _stack(error))))
            continue
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as error:
            _report(spec, f"invocation {request_id} returned a value that is not JSON", error)
            conn.send(("error", _error_payload("Runtime.MarshalError", f"Unable to marshal response: {error}")))
            continue
        conn.send(("ok", payload))


# ------------------------------------------------------------------------------------------ parent side
@dataclass
class Invocation:
    function_id: str
    request_id: str
    ok: bool
    payload: Any = None  # the handler's return value (parsed JSON) when ok
    error: dict[str, Any] | None = None  # errorType / errorMessage / stackTrace when not ok
    duration_ms: float = 0.0

    @property
    def error_message(self) -> str:
        return str((self.error or {}).get("errorMessage", ""))


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection


@dataclass
class _Waiter:
    event: threading.Event = field(default_factory=threading.Event)
    worker: _Worker | None = None


class FunctionPool:
    """The warm sandboxes of one function; ``invoke`` waits for a free one (Lambda's concurrency limit)."""

    def __init__(self, spec: dict[str, Any], size: int = 1) -> None:
        self.spec = spec
        self.size = size
        self.in_flight = 0
        self.invocations = 0
        self._idle: deque[_Worker] = deque()
        self._waiters: deque[_Waiter] = deque()  # invocations waiting for a worker, served first come first
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._starting = 0  # workers spawned that have not reported ready (or failed) yet
        self._ready = 0
        self._started = False
        self._stopped = False

    @property
    def function_id(self) -> str:
        return str(self.spec["function_id"])

    @property
    def timeout_s(self) -> float:
        return float(self.spec["timeout_s"])

    def start(self) -> None:
        with self._lock:
            if self._started or self._stopped:
                return
            self._started = True
        for _ in range(self.size):
            self._spawn()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """Wait until every first worker has imported the handler (or failed); True if one is serving."""
        self.start()
        with self._settled:
            self._settled.wait_for(lambda: self._starting == 0, timeout)
            return self._ready > 0

    def _spawn(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[1])
        code = (
            f"import sys; sys.path.insert(0, {package_root!r}); "
            f"from local_runtime.workers import child_main; child_main({child_sock.fileno()})"
        )
        log_path = self.spec.get("log_path")
        log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child, closed below
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                env=self.spec["env"],
                cwd=self.spec["code_dir"] if os.path.isdir(self.spec["code_dir"]) else None,
                pass_fds=[child_sock.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            child_sock.close()
            if log is not None:
                log.close()
        conn = Connection(parent_sock.detach())
        worker = _Worker(process=process, conn=conn)
        with self._lock:
            self._workers.append(worker)
            self._starting += 1
        with contextlib.suppress(OSError):
            conn.send((self.spec, os.getpid()))
        threading.Thread(
            target=self._await_ready, args=(worker,), name=f"ready:{self.function_id}", daemon=True
        ).start()

    def _await_ready(self, worker: _Worker) -> None:
        ready = False
        try:
            if not worker.conn.poll(READY_TIMEOUT_S):
                raise TimeoutError("init took too long")
            _, init_error = worker.conn.recv()
            ready = True
        except (EOFError, OSError, TimeoutError) as error:
            log.error("%s: worker failed to start (%r)", self.function_id, error)
            self._discard(worker)
        else:
            if init_error:
                log.error("%s: %s (retried on each invocation)", self.function_id, init_error["errorMessage"])
        with self._settled:
            self._starting -= 1
            self._ready += int(ready)
            self._settled.notify_all()
            if not ready or self._stopped:
                return
        self._release(worker)

    def _acquire(self) -> _Worker | None:
        """A free worker, first come first served; None if the pool is stopping or no worker can start."""
        with self._lock:
            if self._idle and not self._waiters:
                return self._idle.pop()
            waiter = _Waiter()
            self._waiters.append(waiter)
        respawned = False
        while not waiter.event.wait(0.5):
            with self._lock:
                alive = len(self._workers)
                if waiter.worker is None and (self._stopped or (alive == 0 and respawned)):
                    self._waiters.remove(waiter)
                    return None
            if alive == 0 and not respawned:  # every worker died or failed to start: try once more
                respawned = True
                self._spawn()
        return waiter.worker

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.worker = worker
                waiter.event.set()
            else:
                self._idle.append(worker)

    def _discard(self, worker: _Worker, *, replace: bool = False) -> None:
        with contextlib.suppress(Exception):
            worker.process.kill()
            worker.process.wait(2.0)
        with contextlib.suppress(Exception):
            worker.conn.close()
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            stopped = self._stopped
        if replace and not stopped:
            self._spawn()

    def invoke(self, event: Any, trigger: str = "") -> Invocation:
        self.start()
        request_id = str(uuid.uuid4())
        event_json = event if isinstance(event, str) else json.dumps(event)
        with self._lock:
            self.in_flight += 1
            self.invocations += 1
        started = time.perf_counter()
        try:
            invocation = self._invoke(request_id, event_json)
        finally:
            with self._lock:
                self.in_flight -= 1
        invocation.duration_ms = (time.perf_counter() - started) * 1000
        outcome = "ok" if invocation.ok else f"error {invocation.error and invocation.error.get('errorType')}"
        log.info("invoke %s %s %.1f ms %s", self.function_id, trigger or "-", invocation.duration_ms, outcome)
        return invocation

    def _invoke(self, request_id: str, event_json: str) -> Invocation:
        while True:
            worker = self._acquire()
            if worker is None:
                if self._stopped:
                    return self._failed(request_id, "Runtime.Stopped", "The local runtime is stopping")
                return self._failed(request_id, "Runtime.Unavailable", "No worker could start (see the log)")
            if worker.process.poll() is None:
                break
            self._discard(worker, replace=True)
        deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
        try:
            worker.conn.send((request_id, event_json, deadline_ms))
            if not worker.conn.poll(self.timeout_s + 0.25):
                log.error("%s: task timed out after %.2f seconds", self.function_id, self.timeout_s)
                self._discard(worker, replace=True)
                return self._failed(
                    request_id, "Sandbox.Timedout", f"Task timed out after {self.timeout_s:.2f} seconds"
                )
            kind, payload = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = worker.process.poll()
            log.error("%s: worker exited during invocation (exit code %s)", self.function_id, code)
            self._discard(worker, replace=True)
            return self._failed(request_id, "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited")
        self._release(worker)
        if kind == "ok":
            return Invocation(self.function_id, request_id, ok=True, payload=json.loads(payload))
        payload["requestId"] = request_id
        return Invocation(self.function_id, request_id, ok=False, error=payload)

    def _failed(self, request_id: str, error_type: str, message: str) -> Invocation:
        return Invocation(
            self.function_id,
            request_id,
            ok=False,
            error=_error_payload(error_type, message) | {"requestId": request_id},
        )

    def stop(self, timeout: float = 3.0) -> None:
        with self._lock:
            self._stopped = True
            workers = list(self._workers)
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
        deadline = time.monotonic() + timeout
        for worker in workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(1.0)
            with contextlib.suppress(Exception):
                worker.conn.close()
