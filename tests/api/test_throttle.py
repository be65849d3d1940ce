"""The token bucket behind the edge's per-caller rates (api/guards/throttle.py)."""

from __future__ import annotations

from api.guards.throttle import RouteThrottle, Throttle


def test_a_burst_then_one_more_every_sixtieth_of_the_rate() -> None:
    bucket = Throttle(per_minute=6)  # one token every 10 s
    assert [bucket.take("a", now=0.0) for _ in range(6)] == [None] * 6
    assert bucket.take("a", now=0.0) == 10
    assert bucket.take("a", now=4.0) == 6
    assert bucket.take("a", now=10.0) is None
    assert bucket.take("b", now=10.0) is None  # another caller, its own bucket
    assert bucket.take("a", now=1000.0) is None  # refilled, up to the burst only
    assert [bucket.take("a", now=1000.0) for _ in range(6)][-1] == 10


def test_the_table_of_callers_is_bounded() -> None:
    bucket = Throttle(per_minute=1, max_keys=3)
    for key in "abcd":
        assert bucket.take(key, now=0.0) is None
    assert bucket.take("a", now=0.0) is None  # forgotten (least recently used): full again
    assert bucket.take("d", now=0.0) == 60


def test_routes_match_whole_paths() -> None:
    rule = RouteThrottle("stream reads", "GET", r"/v1/requests/[^/]+/events", Throttle(1))
    assert rule.matches("GET", "/v1/requests/abc/events")
    assert not rule.matches("POST", "/v1/requests/abc/events")
    assert not rule.matches("GET", "/v1/requests/a/b/events")
    assert not rule.matches("GET", "/v1/requests/abc/events/x")
