"""Native stderr (TensorFlow's C++ lines, the JVM) captured at the file descriptor and logged as records."""

from __future__ import annotations

import logging
import os

import pytest

from model.native_log import native_output_logged

TF_NOTICE = b"I0000 00:00:1795755605.016327   10517 port.cc:153] oneDNN custom operations are on.\n"
TF_BENIGN_ERROR = (
    b"E0000 00:00:1795755675.513458   10569 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512. "
    b"Falling back to the default Eigen-based implementation if present.\n"
)
TF_ERROR = b"E0000 00:00:1795755675.513458   10569 op_kernel.cc:1857] Something failed\n"
JVM_LINE = "Java 경고: 힙이 부족합니다\n".encode()
TF_TWO_LINES = (
    b"I0000 00:00:1795794262.221830   13683 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
    b"To enable the following instructions: AVX2 FMA, rebuild TensorFlow with the appropriate compiler flags.\n"
)


def native_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, str | None]]:
    records = [record for record in caplog.records if record.name == "native"]
    return [(record.levelno, record.getMessage(), record.__dict__["fields"].get("source")) for record in records]


def test_lines_written_to_fd_2_become_records_with_their_severity(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    caplog.set_level(logging.DEBUG, logger="native")
    before = os.fstat(2)
    with native_output_logged():
        os.write(2, TF_NOTICE + TF_BENIGN_ERROR + TF_ERROR + b"\n" + JVM_LINE)
        assert os.fstat(2).st_ino != before.st_ino  # fd 2 is the capture file meanwhile
    assert (os.fstat(2).st_dev, os.fstat(2).st_ino) == (before.st_dev, before.st_ino)
    assert native_records(caplog) == [
        (logging.DEBUG, "oneDNN custom operations are on.", "port.cc:153"),  # below TF_CPP_MIN_LOG_LEVEL
        (logging.DEBUG, TF_BENIGN_ERROR.decode().split("] ", 1)[1].strip(), "util.cc:131"),  # benign notice
        (logging.ERROR, "Something failed", "op_kernel.cc:1857"),
        (logging.WARNING, "Java 경고: 힙이 부족합니다", None),  # not TensorFlow's format: someone wrote to stderr
    ]


def records_at_tf_level_0(
    written: bytes, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[int, str, str | None]]:
    """The records of `written` to fd 2 in a capture, with TF_CPP_MIN_LOG_LEVEL=0 (every line at its own severity)."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    caplog.set_level(logging.DEBUG, logger="native")
    with native_output_logged():
        os.write(2, written)
    return native_records(caplog)


def test_tf_min_log_level_0_keeps_info_lines_at_info(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = records_at_tf_level_0(TF_NOTICE, caplog, monkeypatch)
    assert records == [(logging.INFO, "oneDNN custom operations are on.", "port.cc:153")]


def test_a_tensorflow_message_on_two_lines_is_one_record(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = records_at_tf_level_0(TF_TWO_LINES + JVM_LINE + TF_ERROR, caplog, monkeypatch)
    first, second = TF_TWO_LINES.decode().splitlines()
    assert records == [
        (logging.INFO, first.split("] ", 1)[1] + "\n" + second, "cpu_feature_guard.cc:227"),
        # Right after TensorFlow's lines, but not one TensorFlow continues with: the JVM's own warning.
        (logging.WARNING, "Java 경고: 힙이 부족합니다", None),
        (logging.ERROR, "Something failed", "op_kernel.cc:1857"),
    ]


def test_lines_are_logged_when_the_block_raises(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="native")
    with pytest.raises(RuntimeError, match="load failed"), native_output_logged():
        os.write(2, TF_ERROR)
        raise RuntimeError("load failed")
    assert native_records(caplog) == [(logging.ERROR, "Something failed", "op_kernel.cc:1857")]
    os.write(2, TF_ERROR)  # after the block fd 2 is stderr again: nothing more is captured
    assert len(native_records(caplog)) == 1
