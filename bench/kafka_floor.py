"""The floor under the gateway: a raw kafka-python request-reply round trip, nothing else.

A requester (this process, asyncio, like exchange/transport/kafka.py) publishes a request to a bench
topic and waits for the reply by correlation id on its own partition of a reply topic, read by one
background thread. An echo responder (a separate process, like connectors/kafka_server.py) polls the
request topic, sends each value back to the partition named in the headers, flushes, and commits
its offsets (commit after reply, as the connector does; --no-commit leaves that out).
Producer and consumer settings are the gateway's: acks=all, enable_idempotence=True, linger_ms=1,
fetch_max_wait_ms=10. No pydantic, no HTTP, no database: whatever the gateway adds is above this.

    .venv/bin/python bench/kafka_floor.py [--bootstrap 127.0.0.1:9092] [--concurrency 1,32]
        [--duration 10] [--warmup 2] [--client kafka-python|confluent] [--json out.json]

--client confluent runs the same loop on confluent-kafka (librdkafka, C) with the equivalent
settings (needs `pip install confluent-kafka`; not a project dependency): what a C client would
leave of the Kafka client's CPU cost.

The bench topics (shuyuan.bench.*.<random>) are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import CpuMeter, kafka_pids, latency_summary, machine_cpu_seconds


# The gateway's settings; --linger-ms / --fetch-max-wait-ms override them for experiments (through
# the environment, so that the spawned echo process sees them too).
def _linger() -> int:
    return int(os.environ.get("BENCH_LINGER_MS", "1"))


def _fetch_wait() -> int:
    return int(os.environ.get("BENCH_FETCH_MAX_WAIT_MS", "10"))


def producer_settings() -> dict[str, Any]:
    """kafka-python producer settings (the gateway's: acks=all, idempotent, linger_ms=1)."""
    return {"acks": "all", "enable_idempotence": True, "linger_ms": _linger()}


def consumer_settings() -> dict[str, Any]:
    """kafka-python consumer settings (the gateway's: fetch_max_wait_ms=10)."""
    return {"fetch_max_wait_ms": _fetch_wait()}


REQUEST_PARTITIONS = 3


def _header(headers: list[tuple[str, bytes]] | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def echo_responder(
    bootstrap: list[str], request_topic: str, group: str, commit: bool, ready: Any, stop: Any
) -> None:
    """The echo side, in its own process: the connector's loop without the connector's work."""
    from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata

    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="bench-echo", **producer_settings())
    consumer = KafkaConsumer(
        request_topic,
        bootstrap_servers=bootstrap,
        client_id="bench-echo",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
        **consumer_settings(),
    )
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=200)
            if consumer.assignment():
                ready.set()
            if not batches:
                continue
            for records in batches.values():
                for record in records:
                    topic = _header(record.headers, "reply-topic")
                    partition = _header(record.headers, "reply-partition")
                    if topic is None or partition is None:
                        continue
                    producer.send(
                        topic.decode(),
                        partition=int(partition),
                        value=record.value,
                        key=record.key,
                        headers=[("correlation-id", _header(record.headers, "correlation-id") or b"")],
                    )
            producer.flush(timeout=30)
            if commit:
                consumer.commit(
                    {tp: OffsetAndMetadata(recs[-1].offset + 1, "", -1) for tp, recs in batches.items()}
                )
    finally:
        consumer.close()
        producer.close(timeout=5)


def confluent_producer() -> dict[str, Any]:
    """The same settings in librdkafka's names."""
    return {"acks": "all", "enable.idempotence": True, "linger.ms": _linger()}


def confluent_consumer() -> dict[str, Any]:
    return {"fetch.wait.max.ms": _fetch_wait()}


def echo_responder_confluent(
    bootstrap: list[str], request_topic: str, group: str, commit: bool, ready: Any, stop: Any
) -> None:
    """The echo side on confluent-kafka, same loop: consume a batch, reply, flush, commit."""
    from confluent_kafka import Consumer, Producer

    servers = ",".join(bootstrap)
    producer = Producer({"bootstrap.servers": servers, **confluent_producer()})
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **confluent_consumer(),
        }
    )
    consumer.subscribe([request_topic], on_assign=lambda *_: ready.set())
    try:
        while not stop.is_set():
            first = consumer.poll(0.2)
            if first is None:
                continue
            # consume(n, timeout) waits until n messages or the timeout: take only what is there.
            records = [first, *consumer.consume(num_messages=499, timeout=0)]
            for record in records:
                if record.error():
                    continue
                headers = record.headers() or []
                topic = _header(headers, "reply-topic")
                partition = _header(headers, "reply-partition")
                if topic is None or partition is None:
                    continue
                producer.produce(
                    topic.decode(),
                    partition=int(partition),
                    value=record.value(),
                    key=record.key(),
                    headers=[("correlation-id", _header(headers, "correlation-id") or b"")],
                )
            producer.flush(30)
            if commit:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
        producer.flush(5)


class ConfluentRequester:
    """The requester on confluent-kafka: same shape as Requester."""

    def __init__(self, bootstrap: list[str], request_topic: str, reply_topic: str) -> None:
        from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

        servers = ",".join(bootstrap)
        self._request_topic = request_topic
        self._reply_topic = reply_topic
        self._producer = Producer({"bootstrap.servers": servers, **confluent_producer()})
        self._consumer = Consumer(
            {
                "bootstrap.servers": servers,
                "group.id": f"unused-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                **confluent_consumer(),
            }
        )
        self._consumer.assign([TopicPartition(reply_topic, 0, OFFSET_END)])
        self._pending: dict[bytes, asyncio.Future[bytes]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-replies", daemon=True)
        self._poller = threading.Thread(target=self._serve_producer, name="bench-producer", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()
        self._poller.start()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._poller.join(5)
        self._producer.flush(5)

    async def round_trip(self, value: bytes, key: bytes, timeout: float) -> None:
        assert self._loop is not None
        cid = uuid.uuid4().hex.encode()
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._pending[cid] = future
        try:
            self._producer.produce(
                self._request_topic,
                value=value,
                key=key,
                headers=[
                    ("correlation-id", cid),
                    ("reply-topic", self._reply_topic.encode()),
                    ("reply-partition", b"0"),
                ],
            )
            await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(cid, None)

    def _serve_producer(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)  # delivery reports

    def _read(self) -> None:
        assert self._loop is not None
        while not self._stopping.is_set():
            first = self._consumer.poll(0.1)
            if first is None:
                continue
            for record in [first, *self._consumer.consume(num_messages=499, timeout=0)]:
                if record.error():
                    continue
                future = self._pending.get(_header(record.headers(), "correlation-id") or b"")
                if future is not None:
                    self._loop.call_soon_threadsafe(_resolve, future, record.value())
        self._consumer.close()


class Requester:
    """Publishes requests and matches replies by correlation id, as the gateway's KafkaTransport does."""

    def __init__(self, bootstrap: list[str], request_topic: str, reply_topic: str) -> None:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        self._request_topic = request_topic
        self._reply_topic = reply_topic
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap, client_id="bench-requester", **producer_settings()
        )
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="bench-requester",
            group_id=None,
            enable_auto_commit=False,
            **consumer_settings(),
        )
        tp = TopicPartition(reply_topic, 0)
        self._consumer.assign([tp])
        self._consumer.seek_to_end(tp)
        self._consumer.position(tp)
        self._pending: dict[bytes, asyncio.Future[bytes]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-replies", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the reply reader thread."""
        self._loop = loop
        self._thread.start()

    def close(self) -> None:
        """Stop the reader, close the clients."""
        self._stopping.set()
        self._thread.join(5)
        self._producer.close(timeout=5)

    async def round_trip(self, value: bytes, key: bytes, timeout: float) -> None:
        """Send one request and wait for its echo."""
        assert self._loop is not None
        cid = uuid.uuid4().hex.encode()
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._pending[cid] = future
        try:
            self._producer.send(
                self._request_topic,
                value=value,
                key=key,
                headers=[
                    ("correlation-id", cid),
                    ("reply-topic", self._reply_topic.encode()),
                    ("reply-partition", b"0"),
                ],
            )
            await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(cid, None)

    def _read(self) -> None:
        assert self._loop is not None
        while not self._stopping.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                for record in records:
                    future = self._pending.get(_header(record.headers, "correlation-id") or b"")
                    if future is not None:
                        self._loop.call_soon_threadsafe(_resolve, future, record.value)
        self._consumer.close()


def _resolve(future: asyncio.Future[bytes], value: bytes) -> None:
    if not future.done():
        future.set_result(value)


async def _level(
    requester: Any,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    payload: bytes,
    meter: CpuMeter,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    window: dict[str, float] = {}
    stop = asyncio.Event()
    max_round_trips = 2_000_000

    async def worker(wid: int) -> None:
        nonlocal errors
        n = 0
        while not stop.is_set() and n < max_round_trips:
            n += 1
            started = time.perf_counter()
            try:
                await requester.round_trip(payload, f"subject-{wid}-{n % 97}".encode(), timeout=10)
                ok = True
            except Exception:
                ok = False
            ended = time.perf_counter()
            if "t0" in window and "t1" not in window:
                if ok:
                    latencies.append(ended - started)
                else:
                    errors += 1

    async def clock() -> None:
        await asyncio.sleep(warmup_s)
        window["t0"] = time.perf_counter()
        meter.start()
        await asyncio.sleep(duration_s)
        window["t1"] = time.perf_counter()
        stop.set()

    clock_task = asyncio.create_task(clock())
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    await clock_task
    cpu = meter.stop()
    measured = window["t1"] - window["t0"]
    return {
        "concurrency": concurrency,
        "window_s": round(measured, 3),
        "round_trips": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / measured, 1),
        **latency_summary(latencies),
        "cpu": cpu,
    }


async def _quiet(max_busy_cores: float, timeout_s: float = 60) -> float:
    # Other sessions' work on a shared machine skews the figures: wait, bounded, for calm.
    deadline = time.monotonic() + timeout_s
    while True:
        b0, _ = machine_cpu_seconds()
        await asyncio.sleep(1.0)
        busy = machine_cpu_seconds()[0] - b0
        if busy <= max_busy_cores or time.monotonic() > deadline:
            return round(busy, 2)


async def _run_levels(
    requester: Any,
    echo_pid: int,
    concurrencies: list[int],
    warmup_s: float,
    duration_s: float,
    payload: bytes,
    bootstrap: str,
    quiet_cores: float,
    quiet_timeout_s: float,
) -> list[dict[str, Any]]:
    requester.start(asyncio.get_running_loop())
    # Wait until the echo responder answers (its consumer group must form first).
    deadline = time.monotonic() + 90
    while True:
        try:
            await requester.round_trip(b"probe", b"probe", timeout=2)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError("the echo responder never answered") from None
    meter = CpuMeter({"requester": [os.getpid()], "echo": [echo_pid], "kafka": kafka_pids(bootstrap)})
    results = []
    for c in concurrencies:
        busy_before = await _quiet(quiet_cores, quiet_timeout_s)
        result = await _level(requester, c, warmup_s, duration_s, payload, meter)
        result["machine_busy_cores_before"] = busy_before
        print(
            f"  kafka floor c={c:<3} {result['rps']:>8.1f} round trips/s  p50 {result['p50_ms']:.2f} ms  "
            f"p99 {result['p99_ms']:.2f} ms  errors {result['errors']}  | CPU % of a core: "
            + "  ".join(f"{k} {g['core_pct']:.0f}%" for k, g in result["cpu"]["groups"].items())
            + f"  other {result['cpu']['other_core_pct']:.0f}%",
            flush=True,
        )
        results.append(result)
    return results


def run_floor(
    bootstrap: str,
    concurrencies: list[int] | None = None,
    *,
    duration_s: float = 10.0,
    warmup_s: float = 2.0,
    payload_bytes: int = 400,
    commit: bool = True,
    quiet_cores: float = 0.3,
    client: str = "kafka-python",
    quiet_timeout_s: float = 60,
) -> dict[str, Any]:
    """Measure the raw request-reply floor; topics and the echo process are cleaned up whatever happens."""
    from kafka.admin import KafkaAdminClient

    from kafkaio.admin import ensure_topics

    concurrencies = concurrencies or [1, 32]
    servers = bootstrap.split(",")
    tag = uuid.uuid4().hex[:10]
    request_topic, reply_topic = f"shuyuan.bench.req.{tag}", f"shuyuan.bench.rep.{tag}"
    config = {"bootstrap_servers": servers, "client_id": "bench-admin"}
    ctx = mp.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    echo: Any = None
    requester: Any = None
    confluent = client == "confluent"
    # A JSON-ish value of about the size of a SourceRequest.
    payload = json.dumps({"pad": "x" * max(0, payload_bytes - 12)}).encode()
    try:
        ensure_topics(config, {request_topic: REQUEST_PARTITIONS, reply_topic: 1})
        echo = ctx.Process(
            target=echo_responder_confluent if confluent else echo_responder,
            args=(servers, request_topic, f"bench.echo.{tag}", commit, ready, stop),
            name="bench-echo",
            daemon=True,
        )
        echo.start()
        requester = (ConfluentRequester if confluent else Requester)(servers, request_topic, reply_topic)
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        levels = runner(
            _run_levels(
                requester,
                echo.pid,
                concurrencies,
                warmup_s,
                duration_s,
                payload,
                bootstrap,
                quiet_cores,
                quiet_timeout_s,
            )
        )
    finally:
        if requester is not None:
            requester.close()
        if echo is not None:
            stop.set()
            echo.join(10)
            if echo.is_alive():
                echo.terminate()
                echo.join(5)
        try:
            admin = KafkaAdminClient(**config)
            admin.delete_topics([request_topic, reply_topic])
            admin.close()
        except Exception as exc:
            print(f"  (could not delete bench topics {request_topic}, {reply_topic}: {exc})", file=sys.stderr)
    return {
        "settings": {
            "client": client,
            "producer": confluent_producer() if confluent else producer_settings(),
            "consumer": confluent_consumer() if confluent else consumer_settings(),
            "request_partitions": REQUEST_PARTITIONS,
            "payload_bytes": len(payload),
            "echo_commits_offsets": commit,
        },
        "levels": levels,
    }


def main() -> None:
    """Standalone entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("SHUYUAN_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--concurrency", default="1,32", help="comma-separated in-flight round trips")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per level")
    parser.add_argument("--payload", type=int, default=400, help="request/reply value size, bytes")
    parser.add_argument("--no-commit", action="store_true", help="the echo does not commit offsets")
    parser.add_argument(
        "--quiet-cores", type=float, default=0.3, help="wait for calm below this many busy cores"
    )
    parser.add_argument("--quiet-timeout", type=float, default=60, help="wait for calm this long, at most")
    parser.add_argument("--client", choices=("kafka-python", "confluent"), default="kafka-python")
    parser.add_argument("--linger-ms", type=int, help="experiment: producer linger (gateway: 1)")
    parser.add_argument("--fetch-max-wait-ms", type=int, help="experiment: consumer fetch wait (gateway: 10)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    if args.linger_ms is not None:
        os.environ["BENCH_LINGER_MS"] = str(args.linger_ms)
    if args.fetch_max_wait_ms is not None:
        os.environ["BENCH_FETCH_MAX_WAIT_MS"] = str(args.fetch_max_wait_ms)
    print(f"raw Kafka request-reply floor ({args.client}) against {args.bootstrap}", flush=True)
    result = run_floor(
        args.bootstrap,
        concurrencies,
        duration_s=args.duration,
        warmup_s=args.warmup,
        payload_bytes=args.payload,
        commit=not args.no_commit,
        quiet_cores=args.quiet_cores,
        client=args.client,
        quiet_timeout_s=args.quiet_timeout,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
