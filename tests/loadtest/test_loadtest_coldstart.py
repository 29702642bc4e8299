"""Cold-start detection: requests that found the service at zero, reported apart."""

from __future__ import annotations

from sdobs.loadtest import ColdStartPolicy, LoadTestConfig, run_loadtest
from sdobs.loadtest.coldstart import detect
from sdobs.loadtest.records import RequestRecord


def _rec(seq: int, start: float, ttfb: float, ok: bool = True) -> RequestRecord:
    return RequestRecord(
        seq,
        0,
        start,
        start,
        start + ttfb + 0.01,
        first_byte=start + ttfb,
        status=200 if ok else 503,
        error=None if ok else "http_503",
    )


def test_first_wave_and_a_wave_after_an_idle_gap_are_cold() -> None:
    records = [_rec(i, 0.0, 20.0) for i in range(3)]  # found it at zero
    records += [_rec(3 + i, 20.0 + i, 2.0) for i in range(10)]  # warm
    records += [_rec(13, 200.0, 25.0), _rec(14, 201.0, 24.0)]  # after 160 s of quiet
    records += [_rec(15 + i, 230.0 + i, 2.1) for i in range(5)]
    report = detect(records, ColdStartPolicy(idle_gap_s=60.0))
    assert report.seqs == [0, 1, 2, 13, 14]
    assert [r.seq for r in records if r.cold_start] == [0, 1, 2, 13, 14]
    assert len(report.periods) == 2
    assert report.periods[0].time_to_first_response == 20.0
    assert report.periods[1].time_to_first_response == 25.0
    assert report.steady_ttfb_p50 == 2.0
    assert report.extra_s is not None and 19 < report.extra_s < 22


def test_a_warm_service_has_no_cold_starts() -> None:
    records = [_rec(i, i * 0.5, 2.0 + (i % 3) * 0.1) for i in range(20)]
    report = detect(records)
    assert report.count == 0 and report.candidates >= 1 and report.seqs == []


def test_short_gaps_do_not_count_as_idle() -> None:
    records = [_rec(0, 0.0, 2.0), _rec(1, 30.0, 2.0), _rec(2, 60.0, 9.0), _rec(3, 90.0, 2.0)]
    report = detect(records, ColdStartPolicy(idle_gap_s=60.0))
    assert len(report.periods) == 1 and report.count == 0


def test_cold_start_found_against_a_server_at_zero(fake_a1111) -> None:
    server = fake_a1111(delay=0.02, cold_s=0.6)
    policy = ColdStartPolicy(min_extra_s=0.2)  # the default 1 s is for real SD cold starts
    s = run_loadtest(LoadTestConfig(url=server.url, concurrency=3, requests=30, cold_start=policy))
    assert s.success == 1.0
    cs = s.cold_start
    assert cs.count == 3 and cs.seqs == [0, 1, 2]
    assert cs.periods[0].time_to_first_response is not None
    assert cs.periods[0].time_to_first_response >= 0.6
    assert cs.extra_s is not None and cs.extra_s > 0.5
    assert "3 of 3 after idle" in s.table() and "warm successes" in s.table()
    assert s.warm_latencies is not None and s.warm_latencies.count == 27
    assert s.warm_latencies.max < 0.5 < s.latencies.max
