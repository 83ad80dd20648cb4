"""OpenTelemetry tracing for queue_core (the ``tracing`` extra:
``pip install 'queue-toolkit[tracing]'``).

:class:`TracingHooks` makes a producer span per enqueued job and injects
its context into the job's headers, and a consumer span per attempt
linked to it, with the messaging semantic-convention attributes. Nothing
of OpenTelemetry is imported or called unless you import this package and
install the hooks; importing it without ``opentelemetry-api`` raises an
:class:`ImportError` that says what to install.
"""

try:
    import opentelemetry.trace as _otel_trace  # noqa: F401
except ImportError as _exc:
    raise ImportError(
        "queue_core.tracing needs opentelemetry-api: pip install 'queue-toolkit[tracing]'",
        name="opentelemetry",
    ) from _exc

from ._hooks import TracingHooks

__all__ = ["TracingHooks"]
