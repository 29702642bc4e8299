"""``sdobs query --time/--configuration/--range`` as a user types it, on known traffic.

The ``knative`` fixture holds, in each dialect, 120 x 200, 6 x 404 and 3 x 500 answered by the
two revisions of Configuration ``knative-sd-demo`` in the 10 minutes before ``te`` (109 by
revision 00001, 20 by 00002), 33 by Configuration ``svc`` beside it, and 50 in another namespace.
"""

from __future__ import annotations

from datetime import UTC, datetime

import knative_traffic as kt
import pytest

from sdobs.cli import main

pytestmark = pytest.mark.prometheus


def _query(capsys, client, *args: str) -> tuple[int, list[list[str]], str]:
    """Exit code, the printed table's rows (split on blanks, header lines dropped), stderr."""
    rc = main(["query", *args, "--prometheus-url", client.url])
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines()[2:] if line.strip()]
    return rc, rows, captured.err


def test_query_at_an_iso_time_by_configuration(knative, capsys) -> None:
    client, te = knative.client, knative.end
    iso = datetime.fromtimestamp(te, UTC).isoformat().replace("+00:00", "Z")
    rc, rows, err = _query(capsys, client, "request_rate", "--namespace", kt.NS,
                           "--configuration", "knative-sd-demo", "--window", "10m",
                           "--time", iso, "--by", "revision")
    assert rc == 0, err
    by_rev = {row[-2]: float(row[-1]) for row in rows}
    assert by_rev == {kt.REV_A: pytest.approx(109 / 600, abs=1e-6),
                      kt.REV_B: pytest.approx(20 / 600, abs=1e-6)}
    # Every row is evaluated at the asked instant, not now.
    assert {f"{row[0]} {row[1]}" for row in rows} == {
        datetime.fromtimestamp(te, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")}


def test_query_at_unix_seconds_selects_only_that_configuration(knative, capsys) -> None:
    client, te = knative.client, knative.end
    rc, rows, err = _query(capsys, client, "request_rate", "--namespace", kt.NS,
                           "--configuration", "svc", "--window", "10m", "--time", str(te))
    assert rc == 0, err
    assert [float(r[-1]) for r in rows] == [pytest.approx(33 / 600, abs=1e-6)]
    rc, rows, err = _query(capsys, client, "rate_5xx", "--namespace", kt.NS,
                           "--configuration", "svc", "--window", "10m", "--time", str(te))
    assert rc == 0 and [float(r[-1]) for r in rows] == [pytest.approx(3 / 600, abs=1e-6)]
    # A configuration name that is not there selects nothing (and is data, not PromQL).
    rc = main(["query", "request_rate", "--configuration", 'svc"}or vector(1)#', "--window", "10m",
               "--time", str(te), "--prometheus-url", client.url])
    assert rc == 0 and capsys.readouterr().out.splitlines()[1:] == ["no data"]


def test_query_range_ends_at_time_and_takes_a_duration(knative, capsys) -> None:
    client, te = knative.client, knative.end
    rc, rows, err = _query(capsys, client, "request_rate", "--namespace", kt.NS,
                           "--configuration", "knative-sd-demo", "--window", "10m",
                           "--time", str(te), "--range", "5m")
    assert rc == 0, err
    first, last = (datetime.fromisoformat(f"{r[0]}T{r[1]}").timestamp()
                   for r in (rows[0], rows[-1]))
    assert (first, last) == (te - 300, te)
    assert float(rows[-1][-1]) == pytest.approx(129 / 600, abs=1e-6)


@pytest.mark.parametrize("args, flag", [
    (["--time", "yesterday"], "--time 'yesterday' is not a time"),
    (["--time", "-5"], "--time '-5' is not a time"),
    (["--range", "an hour"], "--range: 'an hour' is not a duration"),
])
def test_query_refuses_bad_times_in_one_sentence(knative, capsys, args, flag) -> None:
    client = knative.client
    rc, _, err = _query(capsys, client, "request_rate", *args)
    assert rc == 2 and flag in err and err.count("\n") == 1
