"""Several clients at once: inserts and queries interleaved, counts exact, no errors.

Every worker does a fixed number of rounds (not "as many as fit in N seconds"), so the test does
the same work on a fast and on a busy machine and its counts are known in advance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from clickhouse_connect.driver.client import Client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKERS = 8
ROUNDS = 15
BATCH = 200


def test_eight_clients_mixing_inserts_and_queries(
    make_client: Callable[..., Client], database: str
) -> None:
    admin = make_client()
    admin.command(
        f"CREATE TABLE {database}.ev (worker UInt8, seq UInt32, n UInt32) "
        "ENGINE MergeTree ORDER BY (worker, seq)"
    )
    clients = [make_client() for _ in range(WORKERS)]
    inserted = [0] * WORKERS
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)  # all workers begin together, so their requests overlap

    def work(w: int) -> None:
        c = clients[w]
        seq = 0
        try:
            start.wait(timeout=120)
            for _round in range(ROUNDS):
                if errors:
                    return
                rows = [[w, seq + i, i] for i in range(BATCH)]
                c.insert(f"{database}.ev", rows, column_names=["worker", "seq", "n"])
                seq += BATCH
                inserted[w] = seq
                mine = c.command(f"SELECT count() FROM {database}.ev WHERE worker = {w}")
                assert mine == seq, (w, mine, seq)
                if w % 2:
                    c.query_df(
                        f"SELECT worker, count() AS c, sum(n) FROM {database}.ev GROUP BY worker"
                    )
                else:
                    c.query_arrow(f"SELECT * FROM {database}.ev WHERE worker = {w} LIMIT 1000")
        except BaseException as exc:  # collected and re-raised on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors[:3]
    assert inserted == [ROUNDS * BATCH] * WORKERS
    assert admin.command(f"SELECT count() FROM {database}.ev") == sum(inserted)
    assert admin.command(f"SELECT uniqExact(worker, seq) FROM {database}.ev") == sum(inserted)
