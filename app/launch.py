"""Run the service as a child process on a free loopback port, for the tests, benchmarks and soak script.

    with running_server(Path("model/default"), Path("/tmp/server.log"), env={"LOG_LEVEL": "warning"}) as server:
        ...  # server.url answers, /readyz said 200 server.ready_after_s seconds after the start

The child is a real `python -m app` (uvicorn), so what is measured or tested is what `make serve` runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_TAIL_CHARS = 3000


class ServerNotReady(RuntimeError):
    """The child exited, or did not answer `/readyz` 200 in time; the message ends with its log's tail."""


@dataclass(frozen=True)
class RunningServer:
    url: str
    process: subprocess.Popen
    log: Path
    ready_after_s: float  # process start to the first `/readyz` 200: the cold start

    def log_lines(self) -> list[dict]:
        """The server's log, one JSON object per line; a line that is not JSON raises ValueError."""
        records = []
        for number, line in enumerate(self.log.read_text("utf-8", errors="replace").splitlines(), 1):
            try:
                records.append(json.loads(line))
            except ValueError as error:
                raise ValueError(f"{self.log} line {number} is not JSON: {line[:300]!r}") from error
        return records


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # HTTPError (503 while loading) is a URLError
        return False


@contextmanager
def running_server(
    bundle: Path,
    log: Path,
    ready_within_s: float = 120,
    env: Mapping[str, str] | None = None,
    poll_s: float = 0.05,
    python_args: Sequence[str] = ("-m", "app"),
) -> Iterator[RunningServer]:
    """Start `python -m app` serving `bundle` (stdout and stderr to `log`), yield it once ready, stop it on exit.

    On exit the child gets SIGTERM (uvicorn's graceful shutdown) and SIGKILL if it has not stopped 15 s later.
    `env` adds settings (e.g. `{"MICROBATCH_MAX_WAIT_MS": "0"}`) to this process's environment. `python_args`
    replaces `-m app` (the cold-start benchmark runs a variant); `--port` follows them.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, *python_args, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "MODEL_DIR": str(bundle), **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        while not _ready(url):
            if process.poll() is not None:
                raise ServerNotReady(f"the server exited with {process.returncode}:\n{_tail(log)}")
            if time.perf_counter() - started > ready_within_s:
                raise ServerNotReady(f"the server was not ready within {ready_within_s} s:\n{_tail(log)}")
            time.sleep(poll_s)
        yield RunningServer(url, process, log, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _tail(log: Path) -> str:
    return log.read_text("utf-8", errors="replace")[-LOG_TAIL_CHARS:]
