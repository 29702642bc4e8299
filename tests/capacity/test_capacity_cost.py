"""GPU price table, user overrides, billed pod time and cost comparisons, worked by hand."""

import numpy as np
import pandas as pd
import pytest

from sdobs.capacity import cost

TEN_MIN = pd.date_range("2026-01-01 00:00", periods=6, freq="10min")


def test_default_table_holds_the_reference_manifest_specs_and_common_gpus():
    table = cost.PriceTable()
    # sdobs/sim/scenarios/knative-sd-demo.yaml: k8s.aliyun.com/eci-use-specs
    for spec in ("ecs.gn5-c4g1.xlarge", "ecs.gn5i-c8g1.2xlarge", "ecs.gn5-c8g1.2xlarge"):
        assert spec in table
    assert {r.gpu for r in table} >= {"P100", "P4", "T4", "A10", "A10G", "L4", "A100", "H100"}
    assert all(r.hourly_usd > 0 and r.gpus >= 1 and "override" in r.source for r in table)
    assert table["p4d.24xlarge"].hourly_usd_per_gpu == pytest.approx(32.7726 / 8)
    with pytest.raises(cost.UnknownSpec) as err:
        table.hourly_usd("nonexistent.gpu")
    assert err.value.spec == "nonexistent.gpu" and "g5.xlarge" in err.value.known


def test_csv_override_updates_known_specs_and_adds_new_ones(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(
        "spec,hourly_usd,provider,gpu,gpus,gpu_memory_gib,vcpus,memory_gib\n"
        "g5.xlarge,0.61,,,,,,\n"
        "onprem-a10,0.35,onprem,A10,1,24,16,64\n",
        encoding="utf-8",
    )
    table = cost.load_price_table(path)
    assert table.hourly_usd("g5.xlarge") == 0.61
    assert table["g5.xlarge"].gpu == "A10G" and table["g5.xlarge"].source == "user"
    assert table["onprem-a10"] == cost.GpuPrice(
        "onprem-a10", "onprem", "A10", 1, 24, 16, 64, 0.35, "user"
    )
    assert len(table) == len(cost.DEFAULT_PRICES) + 1


def test_yaml_override_as_mapping_or_list(tmp_path):
    mapping = tmp_path / "prices.yaml"
    mapping.write_text(
        "g4dn.xlarge: 0.3\necs.gn6i-c4g1.xlarge:\n  hourly_usd: 0.9\n", encoding="utf-8"
    )
    table = cost.load_price_table(mapping)
    assert (
        table.hourly_usd("g4dn.xlarge") == 0.3 and table.hourly_usd("ecs.gn6i-c4g1.xlarge") == 0.9
    )
    rows = tmp_path / "prices.yml"
    rows.write_text("- {spec: g6.xlarge, hourly_usd: 0.5}\n", encoding="utf-8")
    assert cost.load_price_table(rows, base=table).hourly_usd("g6.xlarge") == 0.5


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("p.csv", "spec,hourly_usd\ng5.xlarge,cheap\n", "hourly_usd must be a number"),
        ("p.csv", "spec,price\ng5.xlarge,1\n", "unknown price column 'price'"),
        ("p.csv", "spec,hourly_usd\nnew-gpu,1\n", "new spec 'new-gpu' needs"),
        ("p.csv", "spec,hourly_usd\ng5.xlarge,-1\n", ">= 0"),
        ("p.yaml", "[1, 2]\n", "one mapping per price row"),
        ("p.yaml", "a: [\n", "not valid YAML"),
        ("p.json", "{}", "use a .csv"),
    ],
)
def test_bad_override_files_name_the_file_and_the_problem(tmp_path, name, text, reason):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(cost.PriceTableError) as err:
        cost.load_price_table(path)
    assert reason in str(err.value) and err.value.path == str(path)


def test_missing_override_file(tmp_path):
    with pytest.raises(cost.PriceTableError, match="cannot be read"):
        cost.load_price_table(tmp_path / "absent.csv")


def test_billed_seconds_from_pod_counts_by_hand():
    billed = cost.billed_seconds_from_pod_counts
    pods = pd.Series([1, 3, 3, 2, 0, 0], index=TEN_MIN)
    # Serving: (1 + 3 + 3 + 2) x 600 s; 2 pods started (+60 s each); 3 stopped (+30 s each).
    assert billed(pods, cold_start_s=60.0) == 9 * 600 + 2 * 60 + 3 * 30
    assert billed(pods, cold_start_s=60.0, initial_pods_started=True) == (
        9 * 600 + 3 * 60 + 3 * 30
    )
    # A numeric index in seconds, an explicit end, and a bare sequence with a step agree.
    secs = pd.Series([1, 3, 3, 2, 0, 0], index=np.arange(6) * 600.0)
    assert billed(secs, cold_start_s=60.0, end=3600.0) == 9 * 600 + 210
    assert billed([1, 3, 3, 2, 0, 0], cold_start_s=60.0, step_s=600) == 5610
    assert billed(pd.Series([], dtype=float), cold_start_s=60.0) == 0.0
    with pytest.raises(ValueError, match="step_s"):
        billed([1, 2], cold_start_s=0.0)
    with pytest.raises(ValueError, match="finite"):
        billed(pd.Series([1.0, np.nan], index=TEN_MIN[:2]), cold_start_s=0.0)


def test_billed_seconds_per_pod_for_individual_pods():
    got = cost.billed_seconds_per_pod([100.0, 5.0], cold_start_s=90.0, minimum_s=180.0)
    np.testing.assert_allclose(got, [220.0, 180.0])  # cold start + serving + 30 s drain


def test_compare_costs_always_on_observed_and_whatif():
    price = cost.PriceTable()["g5.xlarge"]  # 1.006 USD/h
    observed = pd.Series([1, 3, 3, 2, 0, 0], index=TEN_MIN)
    whatif = pd.Series([1, 2, 2, 2, 0, 0], index=TEN_MIN)
    cmp = cost.compare_costs(observed, price, cold_start_s=60.0, whatif_pods=whatif)
    assert cmp.duration_s == 3600 and cmp.peak_pods == 3
    assert cmp.always_on_usd == pytest.approx(3 * 1.006)
    assert cmp.observed_usd == pytest.approx(5610 / 3600 * 1.006)
    whatif_s = 7 * 600 + 1 * 60 + 2 * 30
    assert cmp.whatif_usd == pytest.approx(whatif_s / 3600 * 1.006)
    assert cmp.observed_savings == pytest.approx(1 - 5610 / (3 * 3600))
    assert cmp.whatif_vs_observed == pytest.approx(1 - whatif_s / 5610)
    sized = cost.compare_costs(observed, 2.0, cold_start_s=0.0, peak_pods=10)
    assert sized.always_on_usd == 20.0 and sized.whatif_usd is None
    assert cost.savings_ratio(100.0, 25.0) == 0.75 and cost.savings_ratio(0.0, 0.0) == 0.0
    assert cost.always_on_cost(4, 1800, 1.5) == 3.0


def test_zoned_timestamps_and_end():
    pods = pd.Series(
        [2, 2], index=pd.date_range("2026-01-01", periods=2, freq="1h", tz="Asia/Shanghai")
    )
    end = pd.Timestamp("2026-01-01 02:30", tz="Asia/Shanghai")
    billed = cost.billed_seconds_from_pod_counts(pods, cold_start_s=0.0, end=end)
    assert billed == 2 * 3600 + 2 * 5400
