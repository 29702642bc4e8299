"""Credentials never shown: userinfo and secret query values leave every URL sdobs prints."""

from __future__ import annotations

import pytest

from sdobs.cli import main
from sdobs.loadtest.errors import LoadTestConfigError
from sdobs.loadtest.httpclient import parse_target
from sdobs.redact import redact_text, redact_url


@pytest.mark.parametrize("url, shown", [
    ("https://me:pw@grafana.example/x", "https://grafana.example/x"),
    ("https://me:p%40ss@h:3000/", "https://h:3000/"),
    ("http://h/api?token=abc&x=1", "http://h/api?token=***&x=1"),
    ("http://h/?X-Amz-Signature=abc&api-key=k", "http://h/?X-Amz-Signature=***&api-key=***"),
    ("http://h/path?page=2", "http://h/path?page=2"),
    ("http://[::1:80/", "http://[::1:80/"),  # does not parse: redacted as text, never raises
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_inside_messages() -> None:
    text = ("cannot reach http://me:s3cret@h:1/x (HTTPConnectionPool(host='h', port=1): "
            "url: /api?access_token=s3cret&b=2)")
    out = redact_text(text)
    assert "s3cret" not in out and "http://***@h:1/x" in out and "b=2" in out
    assert redact_text("user@example.com wrote http://h/a@b") == "user@example.com wrote http://h/a@b"


@pytest.mark.parametrize("argv", [
    ["query", "request_rate", "--prometheus-url", "ftp://ops:hunter2@prom:9090"],
    ["query", "request_rate", "--prometheus-url", "http://ops:hunter2@127.0.0.1:9"],
    ["dialect", "--prometheus-url", "http://ops:hunter2@127.0.0.1:9"],
    ["loadtest", "ftp://ops:hunter2@127.0.0.1:9", "-n", "1", "--no-progress"],
    ["loadtest", "http://ops:hunter2@127.0.0.1:99999/", "-n", "1", "--no-progress"],
])
def test_cli_errors_never_print_credentials(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    out = capsys.readouterr()
    assert code != 0
    assert "hunter2" not in out.out + out.err, out.err
    assert out.err.strip(), "an error says what went wrong"


def test_loadtest_target_shown_without_secrets() -> None:
    target = parse_target("http://me:pw@h:7860/?token=abc")
    assert target.display_url == "http://h:7860/sdapi/v1/txt2img?token=***"
    assert dict(target.headers)["Authorization"].startswith("Basic ")
    with pytest.raises(LoadTestConfigError) as err:
        parse_target("ws://me:pw@h/")
    assert "pw" not in str(err.value)


def test_the_app_shares_a_load_test_target_without_secrets() -> None:
    from sdobs.app.pages.loadtest import _without_credentials

    assert _without_credentials(" http://me:pw@h:7860/?token=abc ") == "http://h:7860/?token=***"
    assert _without_credentials("http://h:7860") == "http://h:7860"


def test_a_base_url_with_a_query_is_refused_without_showing_it() -> None:
    from sdobs.dashboards.upload import GrafanaClient, UploadError
    from sdobs.prom.client import PrometheusClient

    with pytest.raises(ValueError, match="must not have a query string") as err:
        PrometheusClient("http://127.0.0.1:9/?token=hunter2")
    assert "hunter2" not in str(err.value)
    with pytest.raises(UploadError, match="must not have a query string") as err:
        GrafanaClient("http://127.0.0.1:9/?api_key=hunter2")
    assert "hunter2" not in str(err.value)
