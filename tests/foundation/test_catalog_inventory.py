"""The inventory selectors list exactly the namespaces, services and revisions of known traffic."""

from __future__ import annotations

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog, Selection
from sdobs.catalog.inventory import inventory_selectors, label_key
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus




def values(client: PrometheusClient, cat: Catalog, label: str, sel: Selection) -> list[str]:
    return client.label_values(label_key(cat, label), match=inventory_selectors(cat, sel))


def test_lists_namespaces_services_and_revisions(knative) -> None:
    client, cat = knative.client, knative.catalog
    assert values(client, cat, "namespace", Selection()) == ["default", "team-b"]
    assert values(client, cat, "service", Selection(namespace=kt.NS)) == [kt.SVC, "svc"]
    assert values(client, cat, "service", Selection(namespace="team-b")) == [kt.SVC]
    sel = Selection(namespace=kt.NS, service=kt.SVC)
    assert values(client, cat, "revision", sel) == [kt.REV_A, kt.REV_B]


def test_hostile_values_select_nothing(knative) -> None:
    client, cat = knative.client, knative.catalog
    for hostile in ('default"}', "defa.*", 'x"} or up{', "default\\"):
        assert values(client, cat, "service", Selection(namespace=hostile)) == []


def test_activator_series_do_not_add_revisions(knative) -> None:
    # The OTel activator's http_server series carry kn_revision_name too, without k8s_pod_name.
    client, cat = knative.client, knative.catalog
    sel = Selection(namespace=kt.NS, service="svc")
    assert values(client, cat, "revision", sel) == ["svc-00001"]
