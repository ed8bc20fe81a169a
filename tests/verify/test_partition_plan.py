"""The partition planner on a 100M id space: the README's 100M plan is what the planner says it is.

Nothing here starts a cluster or a store: the planner is pure arithmetic (``harness.parallel.plan``), so
it is run on the id space itself — 100,000 pages of 1,000 ids cut into chunks, and the parity keys of a
1 % stride of the ids sorted into key-space buckets — and its plan is compared with the README's table.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from harness.parallel import ChunkPlanner, bucket_bounds, bucket_of, plan_for_collection
from harness.parallel.plan import BUCKET_ROW_BYTES, MAX_BUCKET_BYTES, bucket_count, chunk_records_for
from harness.records.identity import record_keys64

RECORDS = 100_000_000
PAGE = 1_000
README = Path(__file__).resolve().parents[2] / "README.md"

# The measured per-record costs the README's plan is built on (README, "Scaling"): reading and digesting
# one record of one side on one core.
SCAN_US = {"Edge-cost reads": 14.4, "Pinecone-server reads": 227.0}


@pytest.mark.parametrize("workers", [8, 16, 32])
def test_chunks_of_a_100m_id_space_cover_every_page_once(workers: int) -> None:
    chunk_records = chunk_records_for(RECORDS, workers)
    planner = ChunkPlanner(chunk_records)
    chunks = []
    for page in range(RECORDS // PAGE):
        done = planner.add_page(f"cursor-{page}" if page else None, PAGE)
        if done is not None:
            chunks.append(done)
    last = planner.finish()
    if last is not None:
        chunks.append(last)
    assert sum(c.records for c in chunks) == RECORDS
    assert [c.first_page for c in chunks] == [0, *np.cumsum([c.pages for c in chunks])[:-1].tolist()]
    assert all(c.cursor == (f"cursor-{c.first_page}" if c.first_page else None) for c in chunks)
    assert all(c.records <= chunk_records + PAGE for c in chunks)
    assert len(chunks) >= workers  # every worker has a chunk to read
    assert len(chunks) == plan_for_collection(RECORDS, 128, workers, scan_us_per_record=1.0).chunks_per_side


@pytest.mark.parametrize("kind", ["int", "str"])
def test_buckets_of_a_100m_id_space_are_even_and_fit_their_memory(kind: str) -> None:
    """A 1 % stride of the ids (1M keys) stands for the whole space: each bucket's share, scaled to 100M
    records of both sides, stays within the bucket memory the planner allows."""
    buckets = bucket_count(RECORDS, 16)
    ids: list[int] | list[str] = (
        list(range(0, RECORDS, 100)) if kind == "int" else [f"doc-{i}" for i in range(0, RECORDS, 100)]
    )
    keys = record_keys64(ids)
    which = bucket_of(keys, buckets)
    counts = np.bincount(which, minlength=buckets)
    assert counts.sum() == len(ids) and (counts > 0).all()
    low, high = bucket_bounds(int(which[0]), buckets)
    assert low <= int(keys[0]) < high
    rows_per_bucket = counts.max() * 100 * 2  # scaled to 100M, source and target
    assert rows_per_bucket * BUCKET_ROW_BYTES <= MAX_BUCKET_BYTES
    assert counts.max() <= 1.1 * counts.mean()  # no bucket is a hot spot


def _readme_plan_rows() -> dict[tuple[str, int], list[str]]:
    """The README's 100M plan table: (store, workers) -> its cells."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### The 100M plan", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = cells
    return rows


def test_the_readme_100m_plan_is_the_planners() -> None:
    rows = _readme_plan_rows()
    assert len(rows) == 4
    for (store, workers), cells in rows.items():
        plan = plan_for_collection(RECORDS, 128, workers, scan_us_per_record=SCAN_US[store]).to_dict()
        expected = [
            f"{plan['chunks_per_side']}",
            f"{plan['buckets']}",
            f"{plan['digest_mb_per_worker']:,.0f} MB",
            f"{plan['spill_gb_per_worker']:.1f} GB",
            f"{plan['total_s'] / 60:.0f} min",
        ]
        assert cells[2:7] == expected, (store, workers)
        assert re.fullmatch(r"[\d.]+ µs", cells[7]) and float(cells[7].split()[0]) == SCAN_US[store]
