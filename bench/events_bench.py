"""Event publish -> subscriber handler latency (双告知), over the real broker and PostgreSQL.

A fresh database `bench_<random>` with the sample registry (`shuyuan sample load`), the gateway
(Kafka transport, audit published with acks=all) and the audit sealer as processes, in a Kafka
namespace of the benchmark's own; the subscribers of amr and fso run in this process, each the SDK's
`EventSubscriber` (verify the publisher's signature, report delivered, handle, ack, commit), with a
handler that notes when it ran. xzsp publishes food-business licences (`license.issued`, so both
amr and fso receive each) from `--concurrency` threads for `--duration` seconds through the SDK's
two-step publish (recipients, then one encrypted copy per recipient).

Latency = the handler's time minus the moment the publisher started the publish (one clock: the
same machine). Printed per recipient with p50/p99/max, and the events published per second.

    .venv/bin/python bench/events_bench.py [--concurrency 4] [--duration 20]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, Children, free_port, latency_summary, shuyuan_cmd
from query_bench import Database

from connectors import keys as department_keys
from connectors.event_subscriber import EventSubscriber
from connectors.events import EventClient, ReceivedEvent
from connectors.samples.data import sample_subjects
from protocol.topics import KafkaNames
from shuyuan.cli import _only_system, _token_auth

RECIPIENTS = ("amr", "fso")


def licence(n: int) -> dict[str, Any]:
    """A food-business licence payload: its business scope routes it to fso too."""
    return {
        "licence_no": f"JY1330100{n:06d}",
        "licence_type": "food_business_licence",
        "enterprise_name": "杭州示例餐饮有限公司",
        "business_scope": "餐饮服务;食品销售",
        "issued_on": "2026-12-02",
    }


def client_of(url: str, work: Path, dept: str) -> EventClient:
    """The SDK's events client of a department's sample system."""
    systems = work / "keys" / "systems"
    auth = _token_auth(url, systems, _only_system(systems, dept), None)
    keys = department_keys.load(work / "keys" / "departments" / dept, dept)
    return EventClient(httpx.Client(base_url=url, timeout=15), keys=keys, auth=auth)


def wait_for_gateway(url: str, children: Children, timeout_s: float = 120) -> None:
    """Until /readyz answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children.check_alive()
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the gateway did not become ready")


def main() -> int:
    """Run the benchmark; print the figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=4, help="publishing threads")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="events per second per publishing thread (0: unpaced)"
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("SHUYUAN_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--database-url", default=os.environ.get("SHUYUAN_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if not args.database_url:
        parser.error('--database-url or SHUYUAN_TEST_DATABASE_URL (eval "$(deploy/services.sh env)")')

    work = ROOT / "bench" / "results" / f"events-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    names = KafkaNames(f"bench-{work.name}")
    db, children = Database(args.database_url), Children()
    stop = threading.Event()
    try:
        db.create()
        env = os.environ | {
            "SHUYUAN_DATABASE_URL": db.url,
            "SHUYUAN_TRANSPORT": "kafka",
            "SHUYUAN_KAFKA_BOOTSTRAP": args.bootstrap,
            "SHUYUAN_KAFKA_NAMESPACE": names.namespace,
            "SHUYUAN_ENVIRONMENT": "test",
            "SHUYUAN_AUDIT_KEY_DIR": str(work / "keys" / "audit"),
            "SHUYUAN_RATE_LIMIT_PER_S": "1000000",
            "SHUYUAN_RATE_LIMIT_BURST": "1000000",
        }
        load = subprocess.run(
            shuyuan_cmd("sample", "load", "--data-dir", str(work)), env=env, capture_output=True, text=True
        )
        if load.returncode != 0:
            raise RuntimeError(f"sample load failed:\n{load.stdout}\n{load.stderr}")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gateway_cmd = shuyuan_cmd("gateway", "serve", "--port", str(port))
        children.spawn("gateway", gateway_cmd, env=env, log=work / "gateway.log")
        children.spawn("sealer", shuyuan_cmd("audit", "sealer"), env=env, log=work / "sealer.log")
        wait_for_gateway(url, children)

        handled: dict[tuple[str, str], float] = {}

        def handler_of(dept: str) -> Any:
            def handle(event: ReceivedEvent) -> None:
                handled.setdefault((dept, event.event_id), time.time())

            return handle

        subscribers = []
        for dept in RECIPIENTS:
            subscriber = EventSubscriber(
                client_of(url, work, dept),
                handler_of(dept),
                {"bootstrap_servers": args.bootstrap.split(","), "client_id": f"bench-events-{dept}"},
                names=names,
            )
            threading.Thread(target=subscriber.serve, args=(stop,), daemon=True).start()
            subscribers.append(subscriber)
        for subscriber in subscribers:
            if not subscriber.ready.wait(60):
                raise RuntimeError("a subscriber did not join its group")

        enterprise = sample_subjects().demo_enterprise
        started: dict[str, float] = {}
        errors: list[str] = []
        t_end = time.monotonic() + args.duration

        def publisher(worker: int) -> None:
            events = client_of(url, work, "xzsp")
            n = 0
            while time.monotonic() < t_end:
                event_id = f"evt-bench-{worker}-{n:06d}"
                started[event_id] = time.time()
                try:
                    events.publish(
                        type="license.issued",
                        subject_type="enterprise",
                        subject_id=enterprise,
                        payload=licence(worker * 1_000_000 + n),
                        event_id=event_id,
                    )
                except Exception as exc:  # report, do not stop the load
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    started.pop(event_id, None)
                n += 1
                if args.rate:
                    time.sleep(max(0.0, started.get(event_id, time.time()) + 1 / args.rate - time.time()))

        t0 = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(publisher, range(args.concurrency)))
        published_s = time.monotonic() - t0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(handled) < len(started) * len(RECIPIENTS):
            time.sleep(0.2)
        result: dict[str, Any] = {
            "concurrency": args.concurrency,
            "published": len(started),
            "publish_per_s": round(len(started) / published_s, 1),
            "errors": len(errors),
            "first_errors": errors[:3],
        }
        for dept in RECIPIENTS:
            latencies = [handled[(dept, e)] - t for e, t in started.items() if (dept, e) in handled]
            result[dept] = {"handled": len(latencies)} | latency_summary(latencies)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    finally:
        stop.set()
        time.sleep(1)
        children.stop()
        db.drop()


if __name__ == "__main__":
    sys.exit(main())
