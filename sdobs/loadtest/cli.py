"""``sdobs loadtest URL``: fire the reference portal's load test (or an open-loop one) at an
AUTOMATIC1111 txt2img endpoint and print what the client saw.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from pathlib import Path

from sdobs.cli import UserError
from sdobs.duration import duration_type
from sdobs.loadtest.coldstart import DEFAULT_IDLE_GAP_S, ColdStartPolicy
from sdobs.loadtest.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_LIMITS,
    DEFAULT_REQUESTS,
    DEFAULT_TIMEOUT_S,
    LoadTestConfig,
)
from sdobs.loadtest.errors import LoadTestConfigError
from sdobs.loadtest.httpclient import parse_target
from sdobs.loadtest.metrics import ClientMetrics
from sdobs.loadtest.payload import DEFAULT_PROMPT, Txt2ImgOptions, load_prompts
from sdobs.loadtest.progress import ProgressLine
from sdobs.loadtest.session import LoadTest, Outputs

#: Seconds from ``90``, ``90s``, ``1m30s``, ``2h`` or ``500ms`` (argparse type; sdobs.duration).
parse_duration = duration_type


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use WIDTHxHEIGHT, e.g. 512x512)")
    return int(m.group(1)), int(m.group(2))


def parse_header(text: str) -> tuple[str, str]:
    """``Name: value``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not a header: {text!r} (use 'Name: value')")
    return name.strip(), value.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sdobs loadtest``."""
    lim = DEFAULT_LIMITS
    parser.epilog = (
        "Closed loop by default: -c requests in flight until -n are done (the reference "
        "portal's 5/20). --rate switches to an open loop whose latencies count from each "
        "intended send time. Exit status: 0 done, 1 no request succeeded, 2 usage, 130 Ctrl-C, "
        "143 SIGTERM (both still print and write the summary and records)."
    )
    parser.add_argument("url", help="A1111 base URL or its /sdapi/v1/txt2img URL (http or https)")
    load = parser.add_argument_group("load")
    load.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"requests in flight, closed loop (default {DEFAULT_CONCURRENCY}, max "
        f"{lim.max_concurrency})",
    )
    load.add_argument(
        "-n",
        "--requests",
        type=int,
        metavar="M",
        help=f"requests in total (default {DEFAULT_REQUESTS} unless --duration; max "
        f"{lim.max_requests})",
    )
    load.add_argument(
        "-z",
        "--duration",
        type=parse_duration,
        metavar="DUR",
        help="stop sending after this long, e.g. 90s, 5m",
    )
    load.add_argument(
        "--rate",
        type=float,
        metavar="R",
        help=f"open loop: arrivals per second (max {lim.max_rate:g})",
    )
    load.add_argument(
        "--arrival",
        choices=("constant", "poisson"),
        default="constant",
        help="open-loop arrival process (default constant)",
    )
    load.add_argument("--arrival-seed", type=int, help="seed of the Poisson arrivals")
    load.add_argument(
        "--max-in-flight",
        type=int,
        metavar="N",
        help=f"open loop: most requests in flight (default {lim.max_concurrency})",
    )
    pay = parser.add_argument_group("txt2img payload")
    which = pay.add_mutually_exclusive_group()
    which.add_argument("--prompt", help=f"the prompt (default {DEFAULT_PROMPT!r})")
    which.add_argument("--prompt-file", type=Path, help="prompts, one a line, used in turn")
    pay.add_argument("--negative-prompt", default="")
    pay.add_argument("--steps", type=int, default=20, help="sampling steps (default 20)")
    pay.add_argument(
        "--size",
        type=parse_size,
        default=(512, 512),
        metavar="WxH",
        help="image size (default 512x512)",
    )
    pay.add_argument("--batch-size", type=int, default=1, help="images per batch (default 1)")
    pay.add_argument("--n-iter", type=int, default=1, help="batches per request (default 1)")
    pay.add_argument("--sampler", default="Euler a", help="sampler_name (default 'Euler a')")
    pay.add_argument("--seed", type=int, default=-1, help="seed (default -1: random)")
    pay.add_argument("--cfg-scale", type=float, default=7.0)
    pay.add_argument("--extra", metavar="JSON", help="more txt2img fields as a JSON object")
    net = parser.add_argument_group("addressing")
    net.add_argument("--host", help="Host header, e.g. sd.default.example.com for Knative")
    net.add_argument(
        "-H",
        "--header",
        type=parse_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    net.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    net.add_argument(
        "--timeout",
        type=parse_duration,
        default=DEFAULT_TIMEOUT_S,
        metavar="DUR",
        help=f"client timeout per request (default {DEFAULT_TIMEOUT_S:g}s, above Knative's 300s)",
    )
    net.add_argument(
        "--connect-timeout", type=parse_duration, default=DEFAULT_CONNECT_TIMEOUT_S, metavar="DUR"
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--records", type=Path, metavar="FILE", help="per-request records, .jsonl or .csv"
    )
    out.add_argument(
        "--summary", type=Path, metavar="FILE",
        help="JSON summary in vegeta's report format and units (durations in nanoseconds)",
    )
    out.add_argument(
        "--json", action="store_true", help="print the JSON summary (vegeta's units), not the table"
    )
    out.add_argument("--save-images", type=Path, metavar="DIR", help="save generated images here")
    out.add_argument(
        "--record-prompts",
        action="store_true",
        help="put each request's prompt in its record (off: prompts are user data)",
    )
    out.add_argument("--no-progress", action="store_true", help="no live progress bar")
    out.add_argument(
        "--idle-gap",
        type=parse_duration,
        default=DEFAULT_IDLE_GAP_S,
        metavar="DUR",
        help="quiet gap after which the service may be at zero (default 60s)",
    )
    prom = parser.add_argument_group("Prometheus")
    prom.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve client-side metrics on this port while the test runs",
    )
    prom.add_argument(
        "--metrics-addr", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    prom.add_argument(
        "--metrics-linger",
        type=parse_duration,
        default=15.0,
        metavar="DUR",
        help="keep serving metrics this long after the run (default 15s)",
    )


def config_from_args(args: argparse.Namespace) -> LoadTestConfig:
    """Turn parsed options into a validated LoadTestConfig."""
    prompts = (
        load_prompts(args.prompt_file) if args.prompt_file else (args.prompt or DEFAULT_PROMPT,)
    )
    extra: dict[str, object] = {}
    if args.extra:
        try:
            extra = json.loads(args.extra)
        except ValueError as exc:
            raise LoadTestConfigError("--extra is not valid JSON") from exc
        if not isinstance(extra, dict):
            raise LoadTestConfigError("--extra must be a JSON object")
    width, height = args.size
    payload = Txt2ImgOptions(
        prompts=prompts,
        negative_prompt=args.negative_prompt,
        steps=args.steps,
        width=width,
        height=height,
        batch_size=args.batch_size,
        n_iter=args.n_iter,
        sampler_name=args.sampler,
        seed=args.seed,
        cfg_scale=args.cfg_scale,
        extra=extra,
    )
    return LoadTestConfig(
        url=args.url,
        payload=payload,
        concurrency=args.concurrency,
        requests=args.requests,
        duration_s=args.duration,
        rate=args.rate,
        arrival=args.arrival,
        arrival_seed=args.arrival_seed,
        max_in_flight=args.max_in_flight,
        host=args.host,
        headers=tuple(args.header),
        insecure=args.insecure,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
        record_prompts=args.record_prompts,
        cold_start=ColdStartPolicy(idle_gap_s=args.idle_gap),
    ).validated()


def run(args: argparse.Namespace) -> int:
    """Run the load test, print the summary, write the files asked for."""
    try:
        config = config_from_args(args)
        outputs = Outputs(args.records, args.summary, args.save_images)
        metrics = None
        if args.metrics_port is not None:
            metrics = ClientMetrics(parse_target(config.url, host=config.host).host_header)
        test = LoadTest(config, outputs=outputs, metrics=metrics)
    except LoadTestConfigError as exc:
        raise UserError(str(exc)) from exc
    if metrics is not None:
        try:
            port = metrics.serve(args.metrics_port, args.metrics_addr)
        except OSError as exc:
            raise UserError(
                f"cannot serve metrics on {args.metrics_addr}:{args.metrics_port} "
                f"({exc.strerror}); pick another --metrics-port"
            ) from exc
        print(f"client-side metrics at http://{args.metrics_addr}:{port}/metrics", file=sys.stderr)
    bar = None if args.no_progress else ProgressLine(sys.stderr)
    interrupted = False
    terminated = False
    previous = _terminate_like_ctrl_c()
    test.start()
    try:
        while test.wait(0.2) is None:
            if bar is not None:
                bar.update(test.progress())
    except KeyboardInterrupt as exc:
        interrupted = True
        terminated = isinstance(exc, Terminated)
        _restore_sigterm(previous)
        if bar is not None:
            bar.close()
            bar = None
        print("stopping: cancelling the requests in flight", file=sys.stderr)
        test.stop()
        test.wait()
    if bar is not None:
        bar.update(test.progress())
        bar.close()
    summary = test.summary
    assert summary is not None
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.table())
    for path in test.written:
        print(f"wrote {path}", file=sys.stderr)
    if test.error is not None and not isinstance(test.error, KeyboardInterrupt):
        print(f"sdobs loadtest: the run ended early ({test.error})", file=sys.stderr)
    if metrics is not None:
        _linger(metrics, 0 if interrupted else args.metrics_linger)
    _restore_sigterm(previous)
    if interrupted:
        return 143 if terminated else 130
    return 0 if summary.successes or summary.requests == 0 else 1


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``kill``, a container stop), handled exactly like Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _terminate_like_ctrl_c() -> object:
    """Make SIGTERM stop the run like Ctrl-C (summary printed and written, records flushed);
    returns the handler it replaced. Only the main thread can set handlers (the app's load
    test page runs its tests through the session API, not here)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore_sigterm(previous: object) -> None:
    """Put the earlier SIGTERM handler back, so a second SIGTERM ends the process at once."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _linger(metrics: ClientMetrics, seconds: float) -> None:
    try:
        if seconds > 0:
            print(
                f"serving metrics for {seconds:g}s more so Prometheus scrapes the last values "
                "(Ctrl-C to skip)",
                file=sys.stderr,
            )
            time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        metrics.close()
