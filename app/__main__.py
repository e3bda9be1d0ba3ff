"""`python -m app [--host H] [--port P]`: serve the app with uvicorn and JSON logs (defaults from settings)."""

from __future__ import annotations

import argparse
import logging.config
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn, get_args

import uvicorn

from app.log import logging_config
from app.settings import Settings, SettingsError, get_settings
from model.layout import BundleError, tokenizer_of
from model.native_log import native_output_logged, stderr_stream
from model.registry import check_servable, resolve
from model.tokenizer import TokenizerError, jvm_options, preload, uses_jvm

LEVELS = list(get_args(Settings.model_fields["LOG_LEVEL"].annotation))
STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def preload_tokenizer(model_dir: Path) -> None:
    """Start loading the served bundle's konlpy tagger (`model.tokenizer.preload`), named by the bundle's
    config.json, which is read without importing TensorFlow. A bundle that cannot be found or read is left
    for the model load to report."""
    try:
        name, options = tokenizer_of(resolve(model_dir))
    except (BundleError, OSError):
        return
    preload(name, options)


def check_jvm_options(model_dir: Path) -> None:
    """JVM_OPTIONS that cannot be split (an unclosed quote) stop the start with one line instead of a traceback once
    the model loads, when the served bundle's tagger runs in the JVM; other bundles never read them."""
    try:
        name, _ = tokenizer_of(resolve(model_dir))
    except (BundleError, OSError):
        return
    if uses_jvm(name):
        jvm_options()


def port_number(value: str) -> int:
    """--port's type: 1-65535 (the socket layer would take 99999 as 99999 mod 65536 without a word)."""
    port = int(value) if value.isdecimal() else 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return port


def check_address(host: str, port: int) -> None:
    """Raise OSError, naming the address, if this process cannot listen on `host`:`port` (a name that does not
    resolve, an address not on this machine, a port in use), before the model load makes uvicorn find out ten
    seconds later. Each address the name resolves to is tried as asyncio's server binds them."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _stop_starting(signum: int, frame: FrameType | None) -> NoReturn:
    """Log one line, then end by the signal itself, so that a shell or a supervisor sees the process ended by
    it (a shell reports 130 for Ctrl-C, 143 for SIGTERM, and a script running it stops as on any Ctrl-C); as
    a container's PID 1, with exit status 130 or 143."""
    try:
        logging.getLogger("app").warning("%s while starting: not serving", STOP_SIGNALS[signal.Signals(signum)])
        logging.shutdown()
    finally:  # the signal is never lost, even if the line cannot be written
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # as PID 1 (a container) the kernel drops a signal with the default action


@contextmanager
def stop_at_once_while_starting() -> Iterator[None]:
    """Until uvicorn takes over the signals, Ctrl-C or SIGTERM ends the process at once with one log line.

    Without this, Ctrl-C raises KeyboardInterrupt wherever the main thread is, mostly inside the JVM's start or
    TensorFlow's import: a traceback of dozens of lines, and with their threads alive, at times an abort
    ("terminate called without an active exception", SIGABRT). SIGTERM to PID 1 in a container would be
    ignored until uvicorn runs. Nothing needs closing yet: no port is bound and no model loaded. A signal the
    process was started ignoring (a background job without job control) stays ignored. In the milliseconds
    between this block and uvicorn's start (its config and event loop), Python's own handling applies."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, _stop_starting)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings = get_settings()
    except SettingsError as error:  # before logging is set up (its level is a setting): one plain line
        sys.stderr.write(f"python -m app: {error}\n")
        raise SystemExit(2) from None
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default=settings.HOST, help=f"interface to bind (default {settings.HOST})")
    parser.add_argument("--port", type=port_number, default=settings.PORT, help=f"port (default {settings.PORT})")
    parser.add_argument("--log-level", choices=LEVELS, default=settings.LOG_LEVEL, help="log level")
    args = parser.parse_args(argv)
    try:
        check_servable(settings.MODEL_DIR)
    except BundleError as error:
        sys.stderr.write(f"python -m app: cannot serve MODEL_DIR: {error}\n")
        raise SystemExit(2) from None
    try:
        check_address(args.host, args.port)
        check_jvm_options(settings.MODEL_DIR)
    except (OSError, TokenizerError) as error:
        sys.stderr.write(f"python -m app: {error}\n")
        raise SystemExit(2) from None

    log_config = logging_config(args.log_level, stream=stderr_stream())
    logging.config.dictConfig(log_config)
    with stop_at_once_while_starting(), native_output_logged():  # the JVM and TensorFlow's import print to fd 2
        preload_tokenizer(settings.MODEL_DIR)  # loads the tagger in the background during the import
        from app.main import app  # after argument parsing, so --help does not import TensorFlow

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config,
        log_level=args.log_level,
        access_log=False,
        # Longer than common clients' idle expiry (httpx: 5 s), so the server never closes a connection
        # just as a client reuses it.
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
