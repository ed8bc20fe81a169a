"""The server's write-ahead log: every mutation it acknowledged is on disk before the response is sent.

- What: index create / configure / delete, upsert, update (by id or filter), delete (ids, all,
  filter), namespace create / delete — each one frame, numbered by a global sequence (``seq``).
- Durable before the answer: a request appends its frame and then waits until the frame is written
  and ``fdatasync``-ed. Group commit: writers append to a shared buffer and one of them (the leader)
  writes everything buffered so far with one ``write`` + one ``fdatasync`` while the others wait, so
  N concurrent requests cost about one sync, not N.
- Frame: ``u32 length | u32 CRC-32 | payload``; payload = ``u32 header length | header JSON | blob``
  (the blob holds an upsert's float32 values, raw, row-major; empty for other ops). Frames are
  ``MAX_FRAME_BYTES`` at most.
- Segments: ``wal-<first seq>.log`` in the data dir. Compaction (``rotate`` + the snapshots +
  ``drop_before``) starts a new segment, saves the indexes, then deletes the old segments once every
  frame in them is covered by a snapshot.
- Replay (``read``): frames in seq order across segments. The last frame of the last segment cut short
  or failing its CRC is a crash mid-append — never acknowledged, since acknowledgement waits for the
  sync — and is cut off (with a warning); a bad frame anywhere else is damage, and the server refuses
  to start.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harness.pinecone_local.persistence import SnapshotError

__all__ = ["LogRecord", "MutationLog"]

log = logging.getLogger(__name__)
_FRAME = struct.Struct("<II")  # payload length, CRC-32 of the payload
# A frame holds at most one request (2 MB of JSON, less as float32): anything claiming more is damage.
MAX_FRAME_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct("<I")  # header length inside the payload
PREFIX, SUFFIX = "wal-", ".log"


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One logged mutation: its sequence number, its header (``op``, ``index`` and the op's fields) and
    its blob (an upsert's raw float32 values)."""

    seq: int
    header: dict[str, Any]
    blob: bytes


def _segment_name(first_seq: int) -> str:
    return f"{PREFIX}{first_seq:020d}{SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MutationLog:
    """The log in ``data_dir``: read it with :meth:`read`, then :meth:`start` appending after ``next_seq``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._cond = threading.Condition(threading.Lock())
        self._fd: int | None = None
        self._segment_first = 0
        self._segment_frames = 0
        self._next = 1
        self._buffer: list[bytes] = []
        self._buffered_seq = 0
        self._durable_seq = 0
        self._flushing = False
        self._failure: OSError | None = None
        self.appended = 0  # frames appended since start (for the server's log line and tests)

    # -- segments ------------------------------------------------------------------------------
    def segments(self) -> list[tuple[int, Path]]:
        """(first seq, path) of every segment, oldest first."""
        found = []
        for path in self.data_dir.glob(f"{PREFIX}*{SUFFIX}"):
            digits = path.name[len(PREFIX) : -len(SUFFIX)]
            if digits.isdigit():
                found.append((int(digits), path))
        return sorted(found)

    def read(self) -> Iterator[LogRecord]:
        """Every frame in seq order; cuts off a torn tail of the last segment, refuses damage elsewhere."""
        segments = self.segments()
        for i, (_, path) in enumerate(segments):
            last = i == len(segments) - 1
            data = path.read_bytes()
            offset = 0
            while offset < len(data):
                record, end = _decode(data, offset)
                if record is None:
                    if not (last and _torn(data, offset)):
                        raise SnapshotError(
                            f"mutation log {path} is damaged at byte {offset}; move the data dir aside or "
                            "restore a backup"
                        )
                    # A crash mid-append: the frame was never acknowledged (acknowledgement waits for the sync).
                    log.warning(
                        "mutation log %s: cut %d bytes of an unfinished write at its end", path, len(data) - offset
                    )
                    with path.open("r+b") as handle:
                        handle.truncate(offset)
                        handle.flush()
                        os.fsync(handle.fileno())
                    break
                yield record
                offset = end

    def start(self, next_seq: int) -> None:
        """Open a new segment; the next frame gets ``next_seq``."""
        with self._cond:
            self._next = next_seq
            self._durable_seq = self._buffered_seq = next_seq - 1
            self._open_segment()

    def _open_segment(self) -> None:
        path = self.data_dir / _segment_name(self._next)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment_first = self._next
        self._segment_frames = 0
        _fsync_dir(self.data_dir)  # the new file's name must survive a crash too

    # -- appending -----------------------------------------------------------------------------
    def append(self, header: dict[str, Any], blob: bytes = b"") -> int:
        """Buffer one frame and return its seq (not durable yet: :meth:`wait` for it)."""
        with self._cond:
            if self._fd is None:
                raise RuntimeError("the mutation log is not open")
            seq = self._next
            self._next += 1
            self._buffer.append(_encode(seq, header, blob))
            self._buffered_seq = seq
            self._segment_frames += 1
            self.appended += 1
            return seq

    def wait(self, seq: int) -> None:
        """Return once frame ``seq`` is written and synced (leading a group commit when no one else is).

        ``OSError`` when the write or the sync failed: the mutation must not be acknowledged.
        """
        with self._cond:
            while self._durable_seq < seq:
                if self._failure is not None:
                    raise OSError(f"the mutation log could not be made durable: {self._failure}")
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flush_locked()

    def _flush_locked(self) -> None:
        """Write and sync the buffer, releasing the lock meanwhile (called with the lock held)."""
        frames, upto, fd = self._buffer, self._buffered_seq, self._fd
        if not frames:
            return
        assert fd is not None
        self._buffer = []
        self._flushing = True
        self._cond.release()
        try:
            _write_all(fd, b"".join(frames) if len(frames) > 1 else frames[0])
            os.fdatasync(fd)
        except OSError as exc:
            failure: OSError | None = exc
        else:
            failure = None
        finally:
            self._cond.acquire()
            self._flushing = False
        if failure is not None:
            self._failure = failure
        else:
            self._durable_seq = max(self._durable_seq, upto)
        self._cond.notify_all()

    # -- compaction ----------------------------------------------------------------------------
    def rotate(self) -> int:
        """Finish the current segment (written and synced) and start a new one; returns its first seq.
        Every frame before that seq is in the old segments."""
        with self._cond:
            if not self._segment_frames:
                return self._segment_first  # nothing written since the last rotation
            while self._buffer or self._flushing:  # frames appended during a flush go out first
                if self._failure is not None:
                    raise OSError(f"the mutation log could not be made durable: {self._failure}")
                if self._flushing:
                    self._cond.wait()
                else:
                    self._flush_locked()
            if self._fd is not None:
                os.close(self._fd)
            self._open_segment()
            return self._segment_first

    def drop_before(self, first_seq: int) -> int:
        """Delete the segments that start before ``first_seq`` (their frames are in snapshots); returns how many."""
        dropped = 0
        for start, path in self.segments():
            if start < first_seq:
                path.unlink(missing_ok=True)
                dropped += 1
        if dropped:
            _fsync_dir(self.data_dir)
        return dropped

    def close(self) -> None:
        """Write and sync what is buffered, then close; idempotent."""
        with self._cond:
            while self._flushing:
                self._cond.wait()
            if self._fd is None:
                return
            self._flush_locked()
            os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _encode(seq: int, header: dict[str, Any], blob: bytes) -> bytes:
    head = orjson.dumps({**header, "seq": seq}, option=orjson.OPT_SERIALIZE_NUMPY)
    payload = b"".join((_HEADER.pack(len(head)), head, blob))
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _torn(data: bytes, offset: int) -> bool:
    """Whether the undecodable frame at ``offset`` is the last write cut short by a crash: it claims a
    plausible length and either runs past the end of the file or ends exactly there."""
    if offset + _FRAME.size > len(data):
        return True
    length, _ = _FRAME.unpack_from(data, offset)
    if length > MAX_FRAME_BYTES:
        return False  # no write is that large: the header itself is damaged
    return offset + _FRAME.size + length >= len(data)


def _decode(data: bytes, offset: int) -> tuple[LogRecord | None, int]:
    """The frame at ``offset`` and the offset after it; (None, offset) for a torn or damaged frame."""
    if offset + _FRAME.size > len(data):
        return None, offset
    length, crc = _FRAME.unpack_from(data, offset)
    start, end = offset + _FRAME.size, offset + _FRAME.size + length
    if end > len(data) or length < _HEADER.size:
        return None, offset
    payload = memoryview(data)[start:end]
    if zlib.crc32(payload) != crc:
        return None, offset
    (head_length,) = _HEADER.unpack_from(payload, 0)
    if _HEADER.size + head_length > length:
        return None, offset
    try:
        header = orjson.loads(payload[_HEADER.size : _HEADER.size + head_length])
    except orjson.JSONDecodeError:
        return None, offset
    if not isinstance(header, dict) or not isinstance(header.get("seq"), int):
        return None, offset
    return LogRecord(header["seq"], header, bytes(payload[_HEADER.size + head_length :])), end
