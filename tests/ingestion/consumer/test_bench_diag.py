"""The ingestion bench's shortfall diagnostics, reading a real topic back."""

from __future__ import annotations

import pytest

from bench.ingestion_diag import duplicated, partition_holes, read_topic
from tests.ingestion.conftest import Topics, produce
from tests.ingestion.consumer.helpers import unique_events


@pytest.mark.integration
def test_every_offset_of_a_duplicated_event_id_is_reported(
    topics: Topics, kafka_bootstrap: str
) -> None:
    # Regression: read_topic kept only the first offset of an id (setdefault), so a duplicate's
    # later offsets were neither listed nor counted as taken: they showed as holes
    once, other = unique_events(2, email_record_id=7)  # one key: one partition
    produce(kafka_bootstrap, topics.events, [once, other, once, once])
    in_topic = read_topic(kafka_bootstrap, topics.events, idle_s=1.0)
    assert set(in_topic) == {once.event_id, other.event_id}
    [(partition, _)] = in_topic[other.event_id]
    places = sorted(in_topic[once.event_id])
    assert len(places) == 3 and {p for p, _ in places} == {partition}, in_topic
    offsets = sorted(o for _, o in [*places, *in_topic[other.event_id]])
    assert offsets == list(range(offsets[0], offsets[0] + 4))
    assert duplicated(in_topic) == [(once.event_id, places)]
    last, holes = partition_holes(in_topic)[partition]
    assert last == offsets[-1] and holes == offsets[0]  # nothing missing past the start
