"""The durable spool: numbered samples kept on disk until a receipt covers them.

SQLite in WAL mode. `seq` is allocated in the same transaction that stores the sample, so
numbering continues after any restart and a sample is never numbered twice. Durability:
`synchronous=NORMAL` — a committed sample survives the agent being killed at any instant; after
a power loss the last fraction of a second of samples may be lost (never corrupted). The spool
is bounded: beyond `max_samples`, the oldest samples are dropped, counted and reported to the
server in the next sample (`spool_dropped`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEFAULT_MAX_SAMPLES = 200_000


class Spool:
    def __init__(
        self, path: Path | str, max_samples: int = DEFAULT_MAX_SAMPLES, first_seq: int = 0
    ) -> None:
        """`first_seq` numbers the first sample of a new spool (an existing one continues)."""
        self.max_samples = max_samples
        self._lock = threading.Lock()
        if str(path) != ":memory:" and not Path(path).exists():
            # Owner-only from the first byte, whatever the process umask.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10
        )
        self._wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS samples (
                seq INTEGER PRIMARY KEY, ts REAL NOT NULL, body TEXT NOT NULL,
                sent_at REAL NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT OR IGNORE INTO meta VALUES ('dropped', 0), ('dropped_reported', 0);
            """
        )
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('next_seq', ?)", (max(0, int(first_seq)),)
        )

    def _wal(self) -> None:
        """Switch to WAL; another process (`sentinel-agent status` next to `run`) opening the
        new file at the same moment can briefly refuse the switch, so try again."""
        deadline = time.monotonic() + 10
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0])

    def append(self, sample: dict[str, Any], ts: float | None = None) -> int:
        """Store one sample; returns its sequence number."""
        ts = time.time() if ts is None else ts
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._meta("next_seq")
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
                self._db.execute(
                    "INSERT INTO samples (seq, ts, body) VALUES (?, ?, ?)",
                    (seq, ts, json.dumps(sample, separators=(",", ":"))),
                )
                overflow = self._db.execute("SELECT count(*) FROM samples").fetchone()[0]
                overflow -= self.max_samples
                if overflow > 0:
                    self._db.execute(
                        "DELETE FROM samples WHERE seq IN "
                        "(SELECT seq FROM samples ORDER BY seq LIMIT ?)",
                        (overflow,),
                    )
                    self._db.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped'", (overflow,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

    def due(
        self, limit: int, resend_after: float, now: float | None = None
    ) -> list[dict[str, Any]]:
        """Samples never sent, or sent more than `resend_after` seconds ago without a receipt."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, body FROM samples WHERE sent_at <= ? ORDER BY seq LIMIT ?",
                (now - resend_after, limit),
            ).fetchall()
        return [{"seq": seq, "ts": ts, **json.loads(body)} for seq, ts, body in rows]

    def mark_sent(self, seqs: Iterable[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._db.executemany(
                "UPDATE samples SET sent_at = ? WHERE seq = ?", [(now, s) for s in seqs]
            )

    def reset_sent(self) -> None:
        """After a reconnect everything unreceipted is due again."""
        with self._lock:
            self._db.execute("UPDATE samples SET sent_at = 0")

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Forget samples covered by a receipt; returns how many were removed."""
        with self._lock:
            cursor = self._db.executemany("DELETE FROM samples WHERE seq = ?", [(s,) for s in seqs])
            return cursor.rowcount

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def next_seq(self) -> int:
        with self._lock:
            return self._meta("next_seq")

    def take_unreported_drops(self) -> int:
        """Drops not yet reported to the server (reported once, in the next sample)."""
        with self._lock:
            dropped, reported = self._meta("dropped"), self._meta("dropped_reported")
            if dropped > reported:
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'dropped_reported'", (dropped,)
                )
            return dropped - reported

    def close(self) -> None:
        with self._lock:
            self._db.close()
