"""Recording rules: the catalog's hot signals per revision, the same series in every dialect.

Level ``revision`` = the canonical labels namespace, service, configuration, revision. The
fleet page and fleet dashboard read these when they exist; the SLO and alert rules build on them.
"""

from sdobs.catalog import recorded as rec
from sdobs.rules.model import Group, Record

SOURCE = "knative"


def groups(ctx):
    cat = ctx.catalog
    raw = [
        Record(rec.REQUESTS, cat.record_requests()),
        Record(rec.BUCKETS, cat.record_buckets()),
        Record(rec.ACTIVATOR_ERRORS, cat.record_activator_errors()),
        *(Record(rec.PODS, cat.record_pods(state), {"state": state})
          for state in rec.RECORDED_POD_STATES),
        Record(rec.ACTIVATOR_CONCURRENCY, cat.record_activator_concurrency()),
        Record(rec.QUEUE_DEPTH, cat.record_queue_depth()),
        Record(rec.PANIC_MODE, cat.record_panic_mode()),
    ]
    derived = [Record(rec.COLD_REQUESTS, cat.record_cold_requests())]
    return [Group("sdobs-revision", raw), Group("sdobs-revision-derived", derived)]
