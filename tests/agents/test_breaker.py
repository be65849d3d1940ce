"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

from agents.inference.breaker import BreakerBoard, BreakerConfig, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CONFIG = BreakerConfig(failures=3, window_s=10, open_s=30)


def test_opens_after_n_failures_within_the_window() -> None:
    clock = Clock()
    b = CircuitBreaker("p", CONFIG, clock)
    b.failure()
    clock.now += 11  # the first failure leaves the window
    b.failure()
    b.failure()
    assert b.state == "closed" and b.allow()
    b.failure()
    assert b.state == "open"
    assert not b.allow()


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    clock = Clock()
    b = CircuitBreaker("p", CONFIG, clock)
    for _ in range(3):
        b.failure()
    clock.now += 29
    assert not b.allow()
    clock.now += 1
    assert b.state == "half_open"
    assert b.allow()  # the probe
    assert not b.allow()  # everyone else waits for its verdict
    b.success()
    assert b.state == "closed"
    assert b.allow() and b.allow()


def test_a_failed_probe_opens_the_circuit_again() -> None:
    clock = Clock()
    b = CircuitBreaker("p", CONFIG, clock)
    for _ in range(3):
        b.failure()
    clock.now += 30
    assert b.allow()
    b.failure()
    assert b.state == "open" and not b.allow()
    clock.now += 30
    assert b.allow()


def test_a_probe_without_verdict_lets_another_request_probe() -> None:
    clock = Clock()
    b = CircuitBreaker("p", CONFIG, clock)
    for _ in range(3):
        b.failure()
    clock.now += 30
    assert b.allow()
    b.release()  # e.g. the request was cancelled
    assert b.state == "half_open"
    assert b.allow()


def test_the_board_keeps_one_breaker_per_provider() -> None:
    board = BreakerBoard(CONFIG, Clock())
    assert board.get("openai") is board.get("openai")
    for _ in range(3):
        board.get("openai").failure()
    assert board.states() == {"openai": "open"}
    assert board.get("groq").state == "closed"


def test_one_tenants_failures_do_not_open_it_while_others_use_the_provider() -> None:
    clock = Clock()
    breaker = CircuitBreaker("openai", BreakerConfig(failures=3, window_s=60, open_s=30),
                             clock)
    assert breaker.allow("good")
    for _ in range(5):
        assert breaker.allow("noisy")
        breaker.failure("noisy")
    assert breaker.state == "closed" and breaker.allow("good")
    breaker.failure("good")  # now two tenants see it fail: the provider is unwell
    assert breaker.state == "open" and breaker.reopens_in() == 30


def test_a_single_tenant_still_opens_it_when_nobody_else_uses_the_provider() -> None:
    clock = Clock()
    breaker = CircuitBreaker("openai", BreakerConfig(failures=2, window_s=60, open_s=30), clock)
    for _ in range(2):
        assert breaker.allow("only")
        breaker.failure("only")
    assert breaker.state == "open"
