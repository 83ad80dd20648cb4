"""Prometheus metrics for queue_core (the ``metrics`` extra:
``pip install 'queue-toolkit[metrics]'``).

* :class:`PrometheusHooks`: counters and histograms fed by the runtime's
  hooks (enqueued, claimed, attempts by outcome, leases lost, settle
  failures, handler duration, start delay).
* :class:`QueueCollector`: gauges per topic (jobs by state, lag), read from
  :meth:`~queue_core.QueueService.counts` at scrape time, cached briefly.
* :func:`start_metrics_server`: both on an HTTP ``/metrics`` endpoint.

Importing this package without ``prometheus-client`` installed raises an
:class:`ImportError` that says what to install; ``import queue_core`` never
imports it.
"""

try:
    import prometheus_client as _prometheus_client  # noqa: F401
except ImportError as _exc:
    raise ImportError(
        "queue_core.metrics needs prometheus-client: pip install 'queue-toolkit[metrics]'",
        name="prometheus_client",
    ) from _exc

from ._collector import QueueCollector
from ._hooks import PrometheusHooks
from ._server import MetricsServer, start_metrics_server

__all__ = ["MetricsServer", "PrometheusHooks", "QueueCollector", "start_metrics_server"]
