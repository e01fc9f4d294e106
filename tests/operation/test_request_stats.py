"""Request counts and latencies kept per thread and added up at scrape time, as Prometheus reads them."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest

from sessioncloud.lib.metrics import RequestStats


def scraped(stats: RequestStats) -> list[str]:
    registry = CollectorRegistry()
    registry.register(stats)
    return [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]


def test_counts_from_several_threads_add_up():
    stats = RequestStats()

    def count() -> None:
        for _ in range(1000):
            stats.observe("api:provider_config", "GET", 200, None)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert stats.requests("api:provider_config", "GET", "2xx") == 4000
    assert (
        'sessioncloud_http_requests_total{endpoint="api:provider_config",method="GET",status="2xx"} 4000.0'
        in scraped(stats)
    )


def test_a_latency_falls_in_the_first_bucket_that_holds_it():
    stats = RequestStats()
    for seconds in (0.001, 0.003, 30.0):
        stats.observe("api:provision", "POST", 200, seconds)

    lines = scraped(stats)

    assert 'sessioncloud_http_request_seconds_bucket{endpoint="api:provision",le="0.001"} 1.0' in lines
    assert 'sessioncloud_http_request_seconds_bucket{endpoint="api:provision",le="0.0025"} 1.0' in lines
    assert 'sessioncloud_http_request_seconds_bucket{endpoint="api:provision",le="0.005"} 2.0' in lines
    assert 'sessioncloud_http_request_seconds_bucket{endpoint="api:provision",le="20.0"} 2.0' in lines
    assert 'sessioncloud_http_request_seconds_bucket{endpoint="api:provision",le="+Inf"} 3.0' in lines
    assert 'sessioncloud_http_request_seconds_count{endpoint="api:provision"} 3.0' in lines
    assert 'sessioncloud_http_request_seconds_sum{endpoint="api:provision"} 30.004' in lines


def test_requests_counted_without_a_latency_make_no_histogram():
    stats = RequestStats()
    stats.observe("healthz", "GET", 200, None)

    lines = scraped(stats)

    assert 'sessioncloud_http_requests_total{endpoint="healthz",method="GET",status="2xx"} 1.0' in lines
    assert not [line for line in lines if line.startswith("sessioncloud_http_request_seconds")]
