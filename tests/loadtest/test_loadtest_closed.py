"""The reference portal's test (closed loop, 5 in flight, 20 in total) against a good server."""

from __future__ import annotations

import csv
import json

import numpy as np

from sdobs.loadtest import LoadTestConfig, Txt2ImgOptions, read_records, run_loadtest


def test_portal_5_of_20(fake_a1111, tmp_path) -> None:
    server = fake_a1111(delay=0.05)
    config = LoadTestConfig(
        url=server.url,
        concurrency=5,
        requests=20,
        host="knative-sd-demo.default.example.com",
        payload=Txt2ImgOptions(prompts=("a secret prompt",), steps=20, batch_size=1),
    )
    records_path, summary_path = tmp_path / "records.jsonl", tmp_path / "summary.json"
    images = tmp_path / "images"
    s = run_loadtest(config, records=records_path, summary=summary_path, images_dir=images)

    assert s.requests == 20 and s.success == 1.0 and s.status_codes == {"200": 20}
    assert s.error_kinds == {} and s.images == 20
    assert server.count == 20
    assert server.max_in_flight <= 5 and s.max_in_flight <= 5
    assert server.max_in_flight == 5  # the 50 ms service time makes the five overlap
    # Knative addressing: every request carried the Host header.
    assert set(server.hosts) == {"knative-sd-demo.default.example.com"}
    # The affinity cookie is per virtual client: five issued, each kept on its own client.
    assert len(server.cookies_issued) == 5
    for sent in server.cookies_by_conn.values():
        assert sent[0] is None and len(set(sent[1:])) <= 1
        assert all(c in server.cookies_issued for c in sent[1:])
    assert sum(len(v) - 1 for v in server.cookies_by_conn.values()) == 15

    rows = read_records(records_path)
    assert len(rows) == 20 and sorted(r["seq"] for r in rows) == list(range(20))
    assert {r["client"] for r in rows} == set(range(5))
    assert all(r["status"] == 200 and r["images"] == 1 and r["error"] is None for r in rows)
    assert all(r["process_time"] is not None and r["process_time"] >= 0.05 for r in rows)
    assert all(r["scheduled"] <= r["start"] < r["first_byte"] <= r["end"] for r in rows)
    assert all(r["seed"] is not None and r["job_timestamp"] == "20250101120000" for r in rows)
    assert "prompt" not in rows[0]
    assert "secret" not in records_path.read_text() and "secret" not in summary_path.read_text()

    latencies = np.array([r["latency"] for r in rows])
    doc = json.loads(summary_path.read_text())
    # vegeta's units: integer nanoseconds (Go's time.Duration in JSON).
    for key, q in (("50th", 50), ("90th", 90), ("95th", 95), ("99th", 99)):
        assert doc["latencies"][key] == round(float(np.percentile(latencies, q)) * 1e9)
    assert doc["latencies"]["max"] == round(latencies.max() * 1e9)
    assert doc["latencies"]["min"] == round(latencies.min() * 1e9)
    assert doc["requests"] == 20 and doc["success"] == 1.0

    saved = sorted(images.iterdir())
    assert len(saved) == 20 and all(p.read_bytes().startswith(b"\x89PNG") for p in saved)


def test_percentiles_equal_numpys_on_the_records(fake_a1111) -> None:
    from sdobs.loadtest import LoadTest

    server = fake_a1111(delay=0.002)
    test = LoadTest(LoadTestConfig(url=server.url, concurrency=4, requests=200))
    s = test.run()
    lat = np.array([r.latency for r in test.records])
    assert s.latencies is not None
    assert (s.latencies.p50, s.latencies.p90, s.latencies.p95, s.latencies.p99) == tuple(
        float(np.percentile(lat, q)) for q in (50, 90, 95, 99)
    )
    ttfb = np.array([r.ttfb for r in test.records])
    assert s.time_to_first_byte is not None and s.time_to_first_byte.p99 == float(
        np.percentile(ttfb, 99)
    )


def test_csv_records_and_prompts_only_when_asked(fake_a1111, tmp_path) -> None:
    server = fake_a1111()
    config = LoadTestConfig(
        url=server.url,
        concurrency=2,
        requests=4,
        record_prompts=True,
        payload=Txt2ImgOptions(prompts=("p-one", "p-two")),
    )
    path = tmp_path / "records.csv"
    run_loadtest(config, records=path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4
    assert {
        "timestamp",
        "seq",
        "scheduled",
        "start",
        "first_byte",
        "end",
        "status",
        "error",
        "bytes_in",
        "images",
        "process_time",
        "latency",
        "prompt",
    } <= set(rows[0])
    assert {r["prompt"] for r in rows} == {"p-one", "p-two"}


def test_batch_size_and_duration_bound(fake_a1111) -> None:
    server = fake_a1111(delay=0.01)
    config = LoadTestConfig(
        url=server.url, concurrency=2, duration_s=0.3, payload=Txt2ImgOptions(batch_size=3)
    )
    s = run_loadtest(config)
    assert s.stop_reason == "duration reached"
    assert 4 <= s.requests <= 80 and s.images == 3 * s.requests
    assert s.end is not None and s.latest is not None and s.latest < 0.35
