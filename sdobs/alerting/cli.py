"""``sdobs fault``: inject a fault into the live twin of a running ``sdobs demo``."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from sdobs.cli import UserError

DEFAULT_URL = "http://127.0.0.1:18082"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdobs.alerting.faults import KINDS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    inj = sub.add_parser("inject", help="start a fault on one Service of the twin")
    inj.add_argument("kind", choices=KINDS,
                     help="gpu-xid: XID 79 and ECC errors on its GPUs; 5xx: failing requests")
    inj.add_argument("--namespace", default="default")
    inj.add_argument("--service", required=True, help="Knative Service name")
    inj.add_argument("--duration", type=float, default=600.0,
                     help="seconds until it ends by itself (default 600)")
    inj.add_argument("--rate", type=float, default=1.0,
                     help="5xx: failing requests per second (default 1)")
    for name, text in (("list", "show the active faults"), ("clear", "end every fault now")):
        sub.add_parser(name, help=text)
    for p in sub.choices.values():
        p.add_argument("--control-url", default=DEFAULT_URL,
                       help=f"the demo's fault control server (default {DEFAULT_URL})")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")


def _call(url: str, method: str, timeout: float, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", "")
        except ValueError:
            message = ""
        raise UserError(message or f"the fault control server answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot reach the demo's fault control server at {url} ({reason}); "
                        "is 'sdobs demo' running (and with which --fault-port)?") from None


def run(args: argparse.Namespace) -> int:
    url = args.control_url.rstrip("/") + "/faults"
    if args.action == "inject":
        fault = _call(url, "POST", args.timeout, {
            "kind": args.kind, "namespace": args.namespace, "service": args.service,
            "duration": args.duration, "rate": args.rate})["fault"]
        print(f"{fault['kind']} on {fault['namespace']}/{fault['service']} for "
              f"{fault['duration']:g} s; watch Prometheus' /alerts, Alertmanager and the app's "
              "Alerts page")
    elif args.action == "list":
        for f in _call(url, "GET", args.timeout)["faults"]:
            print(f"{f['kind']:8} {f['namespace']}/{f['service']}  {f['remaining']:g} s left")
    else:
        print(f"cleared {_call(url, 'DELETE', args.timeout)['cleared']} fault(s)")
    return 0
