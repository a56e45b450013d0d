"""The agent's durable spool (DESIGN §5), on real SQLite files: sequence numbers continue across
reopen and are never reused, `due`/`mark_sent`/`resend_after` decide what is (re)sent, receipts
remove samples, the bound evicts oldest-first and reports the drop count exactly once, and a
process SIGKILLed while appending leaves a consistent spool whose seqs are unique and contiguous.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sentinel_agent.spool import Spool


def test_seq_continues_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    assert [spool.append({"cpu_pct": i}) for i in range(5)] == [0, 1, 2, 3, 4]
    spool.acknowledge(range(5))  # even an empty spool remembers where numbering stands
    assert spool.pending() == 0
    spool.close()
    spool = Spool(path)
    try:
        assert spool.next_seq() == 5
        assert spool.append({"cpu_pct": 9}) == 5
        assert [s["seq"] for s in spool.due(100, 0.0)] == [5]
    finally:
        spool.close()


def test_due_mark_sent_and_resend_after(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    try:
        for i in range(5):
            spool.append({"cpu_pct": float(i)}, ts=1000.0 + i)
        first = spool.due(3, resend_after=30, now=2000)
        assert [s["seq"] for s in first] == [0, 1, 2]
        assert first[0] == {"seq": 0, "ts": 1000.0, "cpu_pct": 0.0}
        spool.mark_sent([0, 1, 2], now=2000)
        # Sent and not yet receipted: not due again until `resend_after` has passed.
        assert [s["seq"] for s in spool.due(100, resend_after=30, now=2010)] == [3, 4]
        spool.mark_sent([3, 4], now=2010)
        assert spool.due(100, resend_after=30, now=2029) == []
        assert [s["seq"] for s in spool.due(100, resend_after=30, now=2030)] == [0, 1, 2]
        assert [s["seq"] for s in spool.due(100, resend_after=30, now=2040)] == [0, 1, 2, 3, 4]
        # A reconnect makes everything unreceipted due at once.
        spool.mark_sent(range(5), now=2040)
        spool.reset_sent()
        assert [s["seq"] for s in spool.due(100, resend_after=30, now=2041)] == [0, 1, 2, 3, 4]
    finally:
        spool.close()


def test_acknowledge_removes_only_receipted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    try:
        for i in range(10):
            spool.append({"cpu_pct": i})
        assert spool.acknowledge([0, 1, 2, 7]) == 4
        assert spool.acknowledge([0, 1, 99]) == 0  # replayed / unknown receipts change nothing
        assert spool.pending() == 6
        assert [s["seq"] for s in spool.due(100, 0.0)] == [3, 4, 5, 6, 8, 9]
        assert spool.next_seq() == 10
    finally:
        spool.close()


def test_bounded_spool_evicts_oldest_and_reports_once(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, max_samples=5)
    try:
        for i in range(8):
            spool.append({"cpu_pct": i})
        assert spool.pending() == 5
        assert [s["seq"] for s in spool.due(100, 0.0)] == [3, 4, 5, 6, 7]
        assert spool.take_unreported_drops() == 3
        assert spool.take_unreported_drops() == 0  # reported once only
        spool.append({"cpu_pct": 8})
        spool.close()
        spool = Spool(path, max_samples=5)  # the drop count is durable too
        assert spool.take_unreported_drops() == 1
        assert spool.take_unreported_drops() == 0
        assert [s["seq"] for s in spool.due(100, 0.0)] == [4, 5, 6, 7, 8]
        assert spool.next_seq() == 9
    finally:
        spool.close()


APPENDER = textwrap.dedent(
    """
    import sys
    from sentinel_agent.spool import Spool

    spool = Spool(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        seq = spool.append({"cpu_pct": float(i % 100), "pad": "x" * 200})
        if i % 7 == 0:  # receipts arrive meanwhile, as they would while connected
            spool.acknowledge(range(max(0, seq - 60), seq - 50))
        i += 1
    """
)


def test_sigkill_while_appending_leaves_a_consistent_spool(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    for round_ in range(3):
        before = Spool(path)
        start_seq = before.next_seq()
        before.close()
        proc = subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.7 + 0.3 * round_)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL

        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            seqs = [r[0] for r in raw.execute("SELECT seq FROM samples ORDER BY seq")]
            next_seq = raw.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]
        finally:
            raw.close()
        assert next_seq > start_seq + 50, "the appender barely ran"
        assert len(seqs) == len(set(seqs))
        # Receipts covered everything up to ~50 behind; what is left is exactly the committed,
        # unreceipted run up to next_seq - 1: no gap, no duplicate, no half-done transaction.
        assert seqs == list(range(seqs[0], next_seq)), (seqs[:3], seqs[-3:], next_seq)
        assert 40 <= len(seqs) <= 70

        after = Spool(path)
        try:
            assert after.next_seq() == next_seq
            assert after.append({"cpu_pct": 1.0}) == next_seq  # numbering continues, no reuse
            assert after.acknowledge([next_seq]) == 1
        finally:
            after.close()


def test_first_seq_numbers_a_new_spool_only(tmp_path: Path) -> None:
    """The simulator's in-memory spools start where the server says a device's numbering
    stands; an existing spool file always continues its own numbering."""
    memory = Spool(":memory:", first_seq=41)
    try:
        assert memory.next_seq() == 41
        assert memory.append({"cpu_pct": 1.0}) == 41
    finally:
        memory.close()
    path = tmp_path / "spool.db"
    spool = Spool(path)
    spool.append({"cpu_pct": 1.0})
    spool.close()
    spool = Spool(path, first_seq=1000)
    try:
        assert spool.append({"cpu_pct": 1.0}) == 1
    finally:
        spool.close()
