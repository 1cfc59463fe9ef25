"""Pure parts of ESP delivery: backoff, hints, error classes, the circuit breaker, decide()."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from murmur.settings import SettingsError, get_settings
from sender.adaptive import AdaptiveConfig, Health, _health, decide
from sender.circuit import CircuitBreaker, CircuitConfig
from sender.esp import ses, smtp
from sender.esp.backoff import Backoff, hint_from_header, hint_from_text
from sender.esp.base import EspRef
from sender.models import SendFailure

REF = EspRef("x", None, "ses")


def _client_error(status: int, code: str, headers: dict[str, str] | None = None) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
        },
        "SendEmail",
    )


def test_backoff_is_full_jitter_under_the_cap_and_never_sooner_than_the_hint() -> None:
    b = Backoff(base_seconds=0.5, max_seconds=4)
    assert all(0 <= b.delay(1) <= 0.5 for _ in range(200))
    assert all(0 <= b.delay(10) <= 4 for _ in range(200))
    assert all(3 <= b.delay(1, hint=3) <= 3.5 for _ in range(200))
    assert b.delay(1, hint=60) == 4  # capped
    assert hint_from_text("451 4.7.1 try again in 30 seconds") == 30
    assert hint_from_text("421 please retry after 2 minutes") == 120
    assert hint_from_text("451 later") is None
    assert hint_from_header("7") == 7 and hint_from_header("Wed, 21 Oct") is None


def test_ses_errors_are_throttles_esp_faults_or_permanent() -> None:
    throttle = ses.classify(
        _client_error(429, "TooManyRequestsException", {"Retry-After": "2"}), REF
    )
    assert throttle.throttled and not throttle.permanent and not throttle.esp_fault
    assert throttle.retry_after == 2
    assert ses.classify(_client_error(400, "Throttling"), REF).throttled
    down = ses.classify(_client_error(503, "ServiceUnavailable"), REF)
    assert down.esp_fault and not down.permanent
    paused = ses.classify(_client_error(400, "SendingPausedException"), REF)
    assert paused.esp_fault and not paused.permanent  # fail over; the message is fine
    rejected = ses.classify(_client_error(400, "MessageRejected"), REF)
    assert rejected.permanent and not rejected.esp_fault and rejected.via == REF


def test_smtp_recipient_deferrals_are_not_the_relays_fault_but_421_and_drops_are() -> None:
    deferral = smtp.classify(SendFailure("451 4.7.1 later (RCPT TO)", False, 451), REF)
    assert deferral.throttled and not deferral.esp_fault
    closing = smtp.classify(SendFailure("421 4.3.2 bye (MAIL FROM)", False, 421), REF)
    assert closing.esp_fault
    dropped = smtp.classify(SendFailure("connection: refused", False, None), REF)
    assert dropped.esp_fault and not dropped.throttled
    bounce = smtp.classify(SendFailure("550 5.1.1 unknown (RCPT TO)", True, 550), REF)
    assert bounce.permanent and bounce.hard_bounce and not bounce.esp_fault


def test_the_circuit_opens_on_the_error_rate_half_opens_after_the_cool_down_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker("relay", CircuitConfig(4, 4, 0.5, 10), clock=lambda: now[0])
    for ok in (True, True, False):
        breaker.record(ok)
    assert breaker.state == "closed"
    breaker.record(False)  # 2 of 4
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.reopens_in() == 10
    now[0] = 10
    assert breaker.allow() and breaker.state == "half_open"
    assert not breaker.allow()  # one probe at a time
    breaker.record(False)
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 20
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state == "closed" and breaker.allow()
    assert [t.state for t in breaker.transitions] == [
        "open",
        "half_open",
        "open",
        "half_open",
        "closed",
    ]


def test_adaptive_decisions_halve_to_the_floor_and_recover_step_by_step() -> None:
    cfg = AdaptiveConfig(threshold=0.1, min_sent=10, floor=0.25, step=0.25)
    assert decide(1.0, Health(sent=5, deferred=4), cfg) is None  # too few to judge
    halved = decide(1.0, Health(sent=80, deferred=15, bounced=5), cfg)
    assert halved is not None and halved[0] == 0.5 and halved[1].startswith("halved:")
    assert decide(0.5, Health(sent=0, deferred=20), cfg) == (
        0.25,
        decide(0.5, Health(0, 20), cfg)[1],
    )  # type: ignore[index]
    assert decide(0.25, Health(sent=0, deferred=20), cfg) is None  # at the floor
    recovering = decide(0.5, Health(sent=100, deferred=2), cfg)
    assert recovering is not None and recovering[0] == 0.75
    assert decide(1.0, Health(sent=100), cfg) is None


def test_provider_rate_limit_settings_are_parsed_and_bad_ones_name_the_variable() -> None:
    settings = get_settings(provider_rate_limits="gmail=50, Yahoo=2.5")
    assert settings.provider_limits() == {"gmail": 50.0, "yahoo": 2.5}
    for bad in ("hotmail=3", "gmail", "gmail=fast", "gmail=0"):
        with pytest.raises(SettingsError, match="MURMUR_PROVIDER_RATE_LIMITS"):
            get_settings(provider_rate_limits=bad)


@pytest.mark.unit
def test_deferrals_half_a_second_before_a_rate_change_do_not_count_after_it() -> None:
    # Regression: events were bucketed by 10 s and a bucket overlapping the change counted after
    # it, so on a fast machine the deferrals behind a halving were counted again and the rate
    # kept halving instead of recovering (CI: "the Gmail rate to recover a step did not happen").
    change = 1_000_000.0
    rows = [
        ("gmail", "deferral", change - 0.5, 40),  # the bucket of the deferrals that caused it
        ("gmail", "send", change - 0.5, 50),
        ("gmail", "send", change + 0.3, 30),  # clean sends afterwards
    ]
    assert _health("gmail", rows, change) == Health(30, 0, 0)
