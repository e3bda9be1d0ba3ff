"""`python -m app [--host H] [--port P]`: serve the app with uvicorn and JSON logs (defaults from settings)."""

from __future__ import annotations

import argparse
import logging.config
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import uvicorn

from app.log import logging_config
from app.settings import Settings, SettingsError, get_settings
from model.layout import BundleError, tokenizer_of
from model.native_log import native_output_logged, stderr_stream
from model.registry import resolve
from model.tokenizer import preload

LEVELS = list(get_args(Settings.model_fields["LOG_LEVEL"].annotation))


def preload_tokenizer(model_dir: Path) -> None:
    """Start loading the served bundle's konlpy tagger (`model.tokenizer.preload`), named by the bundle's
    config.json, which is read without importing TensorFlow. A bundle that cannot be found or read is left
    for the model load to report."""
    try:
        name, options = tokenizer_of(resolve(model_dir))
    except (BundleError, OSError):
        return
    preload(name, options)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings = get_settings()
    except SettingsError as error:  # before logging is set up (its level is a setting): one plain line
        sys.stderr.write(f"python -m app: {error}\n")
        raise SystemExit(2) from None
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default=settings.HOST, help=f"interface to bind (default {settings.HOST})")
    parser.add_argument("--port", type=int, default=settings.PORT, help=f"port (default {settings.PORT})")
    parser.add_argument("--log-level", choices=LEVELS, default=settings.LOG_LEVEL, help="log level")
    args = parser.parse_args(argv)

    log_config = logging_config(args.log_level, stream=stderr_stream())
    logging.config.dictConfig(log_config)
    with native_output_logged():  # the JVM and TensorFlow's import print to fd 2
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
