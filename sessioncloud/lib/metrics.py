"""Prometheus metrics: request counts and latencies per endpoint, upstream call outcomes.

Framework-free, so the provisioning flow, the event-loop front and Django's middleware all
count into the same registry; api/metrics.py serves it at /metrics.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)


# One thread's counts, which only that thread writes, so no lock is taken per request:
# (endpoint, method, status // 100) -> [requests, bucket counts..., sum of seconds], one lookup
# per request.
Rows = dict[tuple[str, str, int], list[float]]
ROW_SIZE = len(LATENCY_BUCKETS) + 3  # the count, a bucket per bound and +Inf, the sum


class RequestStats(Collector):
    """HTTP requests by endpoint and status class, and their latencies, as Prometheus reads them.

    Counted on every request of the phone API, where a labelled Counter and Histogram (a lock
    and a label lookup each) cost a tenth of what answering a config costs. Each thread keeps
    its own counts; a scrape adds them up.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._threads: list[Rows] = []
        self._lock = threading.Lock()  # taken once per thread, and by scrapes

    def observe(self, endpoint: str, method: str, status: int, seconds: float | None) -> None:
        try:
            rows = self._local.rows
        except AttributeError:
            rows = self._local.rows = self._new_thread()
        key = (endpoint, method, status // 100)
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0.0] * ROW_SIZE
        row[0] += 1
        if seconds is not None:
            row[1 + bisect_left(LATENCY_BUCKETS, seconds)] += 1
            row[-1] += seconds

    def requests(self, endpoint: str, method: str, status_class: str) -> int:
        key = (endpoint, method, int(status_class[0]))
        with self._lock:
            return int(sum(rows[key][0] for rows in self._threads if key in rows))

    def collect(self) -> Iterator[Metric]:
        requests: dict[tuple[str, str, str], int] = {}
        latencies: dict[str, list[float]] = {}  # endpoint -> bucket counts..., then the sum
        with self._lock:
            threads = list(self._threads)
        for rows in threads:
            for (endpoint, method, status), row in list(rows.items()):
                labels = (endpoint, method, f"{status}xx")
                requests[labels] = requests.get(labels, 0) + int(row[0])
                if not any(row[1:-1]):  # counted without a latency (the health check)
                    continue
                total = latencies.setdefault(endpoint, [0.0] * (ROW_SIZE - 1))
                for index, value in enumerate(row[1:]):
                    total[index] += value
        counter = CounterMetricFamily(
            "sessioncloud_http_requests",
            "HTTP requests by endpoint and status class",
            labels=["endpoint", "method", "status"],
        )
        for labels, count in sorted(requests.items()):
            counter.add_metric(list(labels), count)
        yield counter
        histogram = HistogramMetricFamily(
            "sessioncloud_http_request_seconds", "HTTP request latency by endpoint", labels=["endpoint"]
        )
        for endpoint, buckets in sorted(latencies.items()):
            cumulative, running = [], 0.0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), buckets[:-1], strict=True):
                running += count
                cumulative.append((floatToGoString(bound), running))
            histogram.add_metric([endpoint], cumulative, sum_value=buckets[-1])
        yield histogram

    def _new_thread(self) -> Rows:
        rows: Rows = {}
        with self._lock:
            self._threads.append(rows)
        return rows


REQUEST_STATS = RequestStats()
REGISTRY.register(REQUEST_STATS)
UPSTREAM = Counter(
    "sessioncloud_upstream_calls_total",
    "Calls to providers' provisioning services by outcome (provider_busy: refused at once, the "
    "App had as many calls waiting as it may; cancelled: the phone went away first)",
    ["outcome"],
    registry=REGISTRY,
)
PROVIDER_CONNECTIONS = Counter(
    "sessioncloud_provider_connections_total",
    "Calls to providers' services by the connection that carried them: new, or kept from an "
    "earlier call (provisioning/reuse.py)",
    ["connection"],
    registry=REGISTRY,
)
CALLS_IN_FLIGHT = Gauge(
    "sessioncloud_upstream_calls_in_flight",
    "Calls waiting on providers' services in this process",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
