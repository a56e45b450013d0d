"""Receipts tell an agent which samples are durably stored (or refused for good), so it can
drop them from its spool. Sequence numbers are sent as compact inclusive ranges."""

from __future__ import annotations

import json
from collections.abc import Iterable


def ranges(seqs: Iterable[int]) -> list[list[int]]:
    result: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if result and seq == result[-1][1] + 1:
            result[-1][1] = seq
        else:
            result.append([seq, seq])
    return result


def expand(spans: list[list[int]]) -> list[int]:
    return [seq for first, last in spans for seq in range(first, last + 1)]


def receipt_payload(stored: Iterable[int], rejected: Iterable[int] = ()) -> str:
    return json.dumps(
        {"v": 1, "stored": ranges(stored), "rejected": ranges(rejected)}, separators=(",", ":")
    )
