"""Property tests (Hypothesis) of the twin's txt2img body validation (the A1111 request model).

Any JSON body (shallow: deep nesting is the HTTP parser's business) gives the fields with the
WebUI's defaults or an ApiError the WebUI would answer (422 with pydantic's detail, 400 for an
unknown sampler), never another exception, which the server would turn into a 500.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sdobs.sim.live.a1111 import FIELDS, ApiError, parse_txt2img

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(10**500), 10**500),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(["²", "٣", "--5", " 7 ", "-3", "1e3", "9" * 5000, "nan", "inf", "Euler a"]),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)
bodies = st.dictionaries(st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=8)),
                         json_values, max_size=8)


@settings(max_examples=500, deadline=None)
@given(bodies)
@example({"steps": "²"})
@example({"steps": "9" * 5000})
@example({"cfg_scale": 10**400})
@example({"width": "--5"})
def test_any_body_is_fields_or_a_webui_error(body: dict) -> None:
    try:
        raw = json.dumps(body).encode()
    except ValueError:  # a Python int beyond JSON's own writer: not a body anyone can send
        return
    try:
        fields = parse_txt2img(raw)
    except ApiError as exc:
        assert exc.status in (400, 422)
        json.loads(exc.payload())  # the answer is JSON
    else:
        assert set(fields) >= set(FIELDS)
        for name in ("steps", "width", "height", "batch_size", "n_iter"):
            assert fields[name] is None or isinstance(fields[name], int)


@pytest.mark.parametrize("body", [b'{"steps": "\\u00b2"}', b'{"steps": "' + b"9" * 5000 + b'"}',
                                  b'{"cfg_scale": ' + b"9" * 400 + b"}", b'{"width": "--5"}'])
def test_bad_numbers_are_422_not_500(body: bytes) -> None:
    with pytest.raises(ApiError) as err:
        parse_txt2img(body)
    assert err.value.status == 422
    assert err.value.body["detail"][0]["type"] in ("type_error.integer", "type_error.float")
