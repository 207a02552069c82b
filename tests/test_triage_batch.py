"""Streaming batch classification: order, bad lines, and bounded reading ahead."""

from __future__ import annotations

import itertools
import json

import pytest

from triage.batch import CHUNK, classify_stream


def endless_tickets(consumed: list[int]):
    for n in itertools.count():
        consumed.append(n)
        yield json.dumps({"id": n, "text": "打印机不出纸" if n % 2 else "钱没到账"}, ensure_ascii=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_output_starts_before_the_input_ends_and_reading_ahead_is_bounded(triager, workers):
    consumed: list[int] = []
    stream = classify_stream(triager, endless_tickets(consumed), workers)
    first = next(stream)
    rows = [json.loads(line) for line in first.splitlines()]
    assert [r["id"] for r in rows] == list(range(CHUNK))
    assert rows[0]["category"] == "settlement" and rows[1]["category"] == "device-hardware"
    assert len(consumed) <= CHUNK * (2 * workers + 2)
    stream.close()


def test_blank_lines_are_skipped_and_bad_lines_answered_in_place(triager):
    lines = [
        "",
        '{"id": "a", "text": "显示97"}',
        "   ",
        "[]",
        '{"id": "b", "text": 5}',
        '{"id": "c", "text": "钱没到"}',
    ]
    rows = [json.loads(line) for block in classify_stream(triager, lines, 1) for line in block.splitlines()]
    assert [r["id"] for r in rows] == ["a", None, "b", "c"]
    assert "error" in rows[1] and "error" in rows[2] and rows[3]["category"] == "settlement"
