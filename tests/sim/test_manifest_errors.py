"""Every Knative setting's error message, word for word, on the annotation and ConfigMap paths.

The messages were recorded from the manifest reader before its settings became one table
(``sdobs.sim.manifest.SETTINGS``); the table must keep every one of them byte for byte.
"""

from __future__ import annotations

import pytest
from sim_helpers import service, service_yaml

from sdobs.sim.manifest import SETTINGS, ManifestError, load_text

ANNOTATION_CASES = [({'autoscaling.knative.dev/max-scale': 'ten'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/max-scale]: '
  "'ten' is not a number"),
 ({'autoscaling.knative.dev/maxScale': '-1'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/maxScale]: -1 '
  'is below 0'),
 ({'autoscaling.knative.dev/min-scale': '1.5'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]: '
  "'1.5' is not a whole number"),
 ({'autoscaling.knative.dev/minScale': '-2'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/minScale]: -2 '
  'is below 0'),
 ({'autoscaling.knative.dev/initial-scale': '-1'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/initial-scale]: -1 is below 0'),
 ({'autoscaling.knative.dev/initialScale': 'x'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/initialScale]: '
  "'x' is not a number"),
 ({'autoscaling.knative.dev/initial-scale': '0'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/initial-scale]: 0 needs '
  'allow-zero-initial-scale: true in config-autoscaler'),
 ({'autoscaling.knative.dev/target-utilization-percentage': '150'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/target-utilization-percentage]: 150 '
  'is outside [1, 100]'),
 ({'autoscaling.knative.dev/targetUtilizationPercentage': '0.5'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/targetUtilizationPercentage]: 0.5 '
  'is outside [1, 100]'),
 ({'autoscaling.knative.dev/target-utilization-percentage': 'abc'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/target-utilization-percentage]: '
  "'abc' is not a number"),
 ({'autoscaling.knative.dev/target': '0.001'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/target]: 0.001 '
  'is below the minimum 0.01'),
 ({'autoscaling.knative.dev/target': 'many'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/target]: '
  "'many' is not a number"),
 ({'autoscaling.knative.dev/target-burst-capacity': '-5'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/target-burst-capacity]: -5 is '
  'outside [-1, 1e+09]'),
 ({'autoscaling.knative.dev/targetBurstCapacity': '2e9'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/targetBurstCapacity]: 2e+09 is '
  'outside [-1, 1e+09]'),
 ({'autoscaling.knative.dev/target-burst-capacity': '-0.5'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/target-burst-capacity]: -0.5 must '
  'be -1 or at least 0'),
 ({'autoscaling.knative.dev/window': '3s'},
  "manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/window]: '3s' "
  'is outside [6s, 3600s]'),
 ({'autoscaling.knative.dev/window': '2h'},
  "manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/window]: '2h' "
  'is outside [6s, 3600s]'),
 ({'autoscaling.knative.dev/window': '6.5s'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/window]: '
  "'6.5s' must be a whole number of seconds"),
 ({'autoscaling.knative.dev/window': 'soon'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/window]: '
  "'soon' is not a duration; write seconds (90) or a number with a unit (ns, us, ms, s, m, h) "
  'such as 90s, 1m30s, 500ms, 2h'),
 ({'autoscaling.knative.dev/panic-window-percentage': '0.5'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/panic-window-percentage]: 0.5 is '
  'outside [1, 100]'),
 ({'autoscaling.knative.dev/panicWindowPercentage': '101'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/panicWindowPercentage]: 101 is '
  'outside [1, 100]'),
 ({'autoscaling.knative.dev/panic-threshold-percentage': '100'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/panic-threshold-percentage]: 100 is '
  'outside [110, 1000]'),
 ({'autoscaling.knative.dev/panicThresholdPercentage': '1001'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/panicThresholdPercentage]: 1001 is '
  'outside [110, 1000]'),
 ({'autoscaling.knative.dev/scale-down-delay': '1.5s'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[autoscaling.knative.dev/scale-down-delay]: '1.5s' must be a "
  'whole number of seconds'),
 ({'autoscaling.knative.dev/scale-down-delay': '2h'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[autoscaling.knative.dev/scale-down-delay]: '2h' is outside "
  '[0s, 3600s]'),
 ({'autoscaling.knative.dev/scale-down-delay': '-1s'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[autoscaling.knative.dev/scale-down-delay]: '-1s' is not a "
  'duration; write seconds (90) or a number with a unit (ns, us, ms, s, m, h) such as 90s, 1m30s, '
  '500ms, 2h'),
 ({'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '-1s'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/scale-to-zero-pod-retention-period]: '
  "'-1s' is not a duration; write seconds (90) or a number with a unit (ns, us, ms, s, m, h) such "
  'as 90s, 1m30s, 500ms, 2h'),
 ({'autoscaling.knative.dev/scale-to-zero-pod-retention-period': 'x'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/scale-to-zero-pod-retention-period]: '
  "'x' is not a duration; write seconds (90) or a number with a unit (ns, us, ms, s, m, h) such "
  'as 90s, 1m30s, 500ms, 2h'),
 ({'autoscaling.knative.dev/max-scale': '2', 'autoscaling.knative.dev/min-scale': '5'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]: '
  'min-scale 5 is above max-scale 2'),
 ({'autoscaling.knative.dev/maxScale': '2', 'autoscaling.knative.dev/minScale': '5'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/minScale]: '
  'min-scale 5 is above max-scale 2'),
 ({'autoscaling.knative.dev/activation-scale': '1'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/activation-scale]: activation-scale '
  'must be at least 2'),
 ({'autoscaling.knative.dev/activation-scale': '0'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/activation-scale]: 0 is below 1'),
 ({'autoscaling.knative.dev/activation-scale': 'two'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[autoscaling.knative.dev/activation-scale]: 'two' is not a "
  'number'),
 ({'autoscaling.knative.dev/metric-aggregation-algorithm': 'median'},
  'manifest Service sd: '
  'spec.template.metadata.annotations[autoscaling.knative.dev/metric-aggregation-algorithm]: '
  "'median' is not linear or weighted-exponential"),
 ({'autoscaling.knative.dev/metricAggregationAlgorithm': 'avg'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[autoscaling.knative.dev/metricAggregationAlgorithm]: 'avg' "
  'is not linear or weighted-exponential'),
 ({'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/class]: '
  "autoscaler class 'hpa.autoscaling.knative.dev' is not modelled; use "
  'kpa.autoscaling.knative.dev or mpa.autoscaling.knative.dev'),
 ({'autoscaling.knative.dev/metric': 'cpu'},
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/metric]: '
  "metric 'cpu' is not modelled for the KPA; use concurrency or rps"),
 ({'serving.knative.dev/progress-deadline': '1.5s'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[serving.knative.dev/progress-deadline]: '1.5s' must be a "
  'positive whole number of seconds'),
 ({'serving.knative.dev/progress-deadline': 'x'},
  'manifest Service sd: '
  "spec.template.metadata.annotations[serving.knative.dev/progress-deadline]: 'x' is not a "
  'duration; write seconds (90) or a number with a unit (ns, us, ms, s, m, h) such as 90s, 1m30s, '
  '500ms, 2h'),
 ({'twin.sdobs.dev/cold-start': '2h'},
  'manifest Service sd: spec.template.metadata.annotations[twin.sdobs.dev/cold-start]: cold start '
  '7200 s must be above 0 and at most 1 hour')]
CONFIGMAP_CASES = [('config-autoscaler',
  {'stable-window': '5s'},
  'ConfigMap config-autoscaler data.stable-window',
  'ConfigMap config-autoscaler data.stable-window: must be between 6s and 1h'),
 ('config-autoscaler',
  {'stable-window': 'x'},
  'ConfigMap config-autoscaler data.stable-window',
  "ConfigMap config-autoscaler data.stable-window: 'x' is not a duration; write seconds (90) or a "
  'number with a unit (ns, us, ms, s, m, h) such as 90s, 1m30s, 500ms, 2h'),
 ('config-autoscaler',
  {'max-scale-up-rate': '1'},
  'ConfigMap config-autoscaler data.max-scale-up-rate',
  'ConfigMap config-autoscaler data.max-scale-up-rate: must be greater than 1'),
 ('config-autoscaler',
  {'max-scale-down-rate': '0.5'},
  'ConfigMap config-autoscaler data.max-scale-down-rate',
  'ConfigMap config-autoscaler data.max-scale-down-rate: must be greater than 1'),
 ('config-autoscaler',
  {'scale-to-zero-grace-period': '0s'},
  'ConfigMap config-autoscaler data.scale-to-zero-grace-period',
  'ConfigMap config-autoscaler data.scale-to-zero-grace-period: must be positive'),
 ('config-autoscaler',
  {'target-burst-capacity': '-2'},
  'ConfigMap config-autoscaler data.target-burst-capacity',
  'ConfigMap config-autoscaler data.target-burst-capacity: must be -1 or at least 0'),
 ('config-autoscaler',
  {'container-concurrency-target-default': 'many'},
  'ConfigMap config-autoscaler data.container-concurrency-target-default',
  "ConfigMap config-autoscaler data.container-concurrency-target-default: 'many' is not a number"),
 ('config-autoscaler',
  {'requests-per-second-target-default': True},
  'ConfigMap config-autoscaler data.requests-per-second-target-default',
  'ConfigMap config-autoscaler data.requests-per-second-target-default: True is not a number'),
 ('config-autoscaler',
  {'panic-window-percentage': 'x'},
  'ConfigMap config-autoscaler data.panic-window-percentage',
  "ConfigMap config-autoscaler data.panic-window-percentage: 'x' is not a number"),
 ('config-autoscaler',
  {'panic-threshold-percentage': 'x'},
  'ConfigMap config-autoscaler data.panic-threshold-percentage',
  "ConfigMap config-autoscaler data.panic-threshold-percentage: 'x' is not a number"),
 ('config-autoscaler',
  {'activator-capacity': 'x'},
  'ConfigMap config-autoscaler data.activator-capacity',
  "ConfigMap config-autoscaler data.activator-capacity: 'x' is not a number"),
 ('config-autoscaler',
  {'scale-down-delay': 'x'},
  'ConfigMap config-autoscaler data.scale-down-delay',
  "ConfigMap config-autoscaler data.scale-down-delay: 'x' is not a duration; write seconds (90) "
  'or a number with a unit (ns, us, ms, s, m, h) such as 90s, 1m30s, 500ms, 2h'),
 ('config-autoscaler',
  {'scale-to-zero-pod-retention-period': 'x'},
  'ConfigMap config-autoscaler data.scale-to-zero-pod-retention-period',
  "ConfigMap config-autoscaler data.scale-to-zero-pod-retention-period: 'x' is not a duration; "
  'write seconds (90) or a number with a unit (ns, us, ms, s, m, h) such as 90s, 1m30s, 500ms, '
  '2h'),
 ('config-autoscaler',
  {'initial-scale': '1.5'},
  'ConfigMap config-autoscaler data.initial-scale',
  "ConfigMap config-autoscaler data.initial-scale: '1.5' is not a whole number"),
 ('config-autoscaler',
  {'min-scale': 'x'},
  'ConfigMap config-autoscaler data.min-scale',
  "ConfigMap config-autoscaler data.min-scale: 'x' is not a number"),
 ('config-autoscaler',
  {'max-scale': 'x'},
  'ConfigMap config-autoscaler data.max-scale',
  "ConfigMap config-autoscaler data.max-scale: 'x' is not a number"),
 ('config-autoscaler',
  {'max-scale-limit': 'x'},
  'ConfigMap config-autoscaler data.max-scale-limit',
  "ConfigMap config-autoscaler data.max-scale-limit: 'x' is not a number"),
 ('config-autoscaler',
  {'enable-scale-to-zero': 'yes'},
  'ConfigMap config-autoscaler data.enable-scale-to-zero',
  "ConfigMap config-autoscaler data.enable-scale-to-zero: 'yes' is not true or false"),
 ('config-autoscaler',
  {'allow-zero-initial-scale': '1'},
  'ConfigMap config-autoscaler data.allow-zero-initial-scale',
  "ConfigMap config-autoscaler data.allow-zero-initial-scale: '1' is not true or false"),
 ('config-autoscaler',
  {'container-concurrency-target-percentage': 'x'},
  'ConfigMap config-autoscaler data.container-concurrency-target-percentage',
  "ConfigMap config-autoscaler data.container-concurrency-target-percentage: 'x' is not a number"),
 ('config-autoscaler',
  {'max-scale-limit': '5'},
  'spec.template.metadata.annotations[autoscaling.knative.dev/max-scale]',
  'manifest Service sd: spec.template.metadata.annotations[autoscaling.knative.dev/max-scale]: '
  'max-scale must be set and at most max-scale-limit 5'),
 ('config-autoscaler',
  {'initial-scale': '0'},
  'initial-scale',
  'manifest Service sd: initial-scale: 0 needs allow-zero-initial-scale: true in '
  'config-autoscaler'),
 ('config-defaults',
  {'revision-timeout-seconds': '1.5'},
  'ConfigMap config-defaults data.revision-timeout-seconds',
  "ConfigMap config-defaults data.revision-timeout-seconds: '1.5' is not a whole number"),
 ('config-defaults',
  {'max-revision-timeout-seconds': 'x'},
  'ConfigMap config-defaults data.max-revision-timeout-seconds',
  "ConfigMap config-defaults data.max-revision-timeout-seconds: 'x' is not a number"),
 ('config-deployment',
  {'progress-deadline': 'x'},
  'ConfigMap config-deployment data.progress-deadline',
  "ConfigMap config-deployment data.progress-deadline: 'x' is not a duration; write seconds (90) "
  'or a number with a unit (ns, us, ms, s, m, h) such as 90s, 1m30s, 500ms, 2h')]


def _configmap(name: str, data: dict[str, object]) -> str:
    lines = "\n".join(f"  {k}: {v!r}" if isinstance(v, str) else f"  {k}: {str(v).lower()}"
                      for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata:\n{lines}\n---\n"


@pytest.mark.parametrize(("annotations", "message"), ANNOTATION_CASES)
def test_annotation_errors_are_unchanged(annotations: dict[str, str], message: str) -> None:
    with pytest.raises(ManifestError) as err:
        service(annotations)
    assert str(err.value) == message
    assert message.startswith(f"manifest Service sd: {err.value.field}: ")


@pytest.mark.parametrize(("configmap", "data", "field", "message"), CONFIGMAP_CASES)
def test_configmap_errors_are_unchanged(configmap: str, data: dict[str, object], field: str,
                                        message: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_text(_configmap(configmap, data) + service_yaml())
    assert (err.value.field, str(err.value)) == (field, message)


@pytest.mark.parametrize(("key", "text", "read"), [
    ("target-burst-capacity", "5", lambda k: k.target_burst_capacity),
    ("panic-window-percentage", "20", lambda k: k.panic_window),
    ("panic-threshold-percentage", "300", lambda k: k.panic_threshold),
    ("stable-window", "120s", lambda k: k.stable_window),
    ("scale-to-zero-pod-retention-period", "90s", lambda k: k.scale_to_zero_pod_retention),
    ("scale-down-delay", "5m", lambda k: k.scale_down_delay),
    ("initial-scale", "2", lambda k: k.initial_scale),
    ("min-scale", "1", lambda k: k.min_scale),
    ("max-scale", "8", lambda k: k.max_scale),
    ("container-concurrency-target-percentage", "80", lambda k: k.target),
])
def test_a_setting_reads_alike_from_the_configmap_and_from_each_annotation_alias(
        key: str, text: str, read) -> None:
    setting = SETTINGS[key]
    (cluster,), _ = load_text(_configmap("config-autoscaler", {key: text}) + service_yaml())
    for alias in setting.annotations:
        annotated = service({f"autoscaling.knative.dev/{alias}": text})
        assert read(annotated.revisions[0].kpa) == read(cluster.revisions[0].kpa), alias
    assert read(cluster.revisions[0].kpa) != read(service().revisions[0].kpa)  # not the default
