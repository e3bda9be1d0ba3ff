"""Starting a real `python -m app` (uvicorn) process for tests, and waiting until it is ready."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def log_lines(self) -> list[dict]:
        """The server's JSON log lines (TensorFlow's own C++ lines are not JSON and are skipped)."""
        lines = self.log.read_text("utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(bundle: Path, log: Path, ready_within: float = 120, **env: str) -> Iterator[Server]:
    """A server for `bundle` on a free loopback port, ready (`/readyz` 200) when entered, killed on exit."""
    port = free_port()
    environment = {**os.environ, "MODEL_DIR": str(bundle), **env}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + ready_within
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server was not ready within {ready_within} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield Server(url, process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
