"""queue_core: the portable job-queue API, its worker runtime, and the driver
interface backends implement.

Applications use :class:`QueueService` (and the :class:`Service`,
:class:`Consumer` and :class:`Handler` protocols); driver authors implement
:class:`Driver` and declare :class:`Capabilities`.
"""

from ._capabilities import Capabilities
from ._clock import Clock, FakeClock, SystemClock, to_ms
from ._codec import Codec, JsonCodec
from ._consumer import QueueConsumer
from ._driver import Driver
from ._errors import (
    BackendUnavailable,
    Closed,
    InvalidArgument,
    LeaseLost,
    PayloadTooLarge,
    QueueError,
    TimeLimitExceeded,
    Unsupported,
    translate_errors,
)
from ._handler import AsyncHandler, DeadLetter, Handler, JobCancelled, Retry, SyncHandler
from ._hooks import Hooks, Outcome
from ._job import CancelOutcome, Counts, EnqueueResult, Job, JobState, NewJob, Settled
from ._limits import TopicLimits
from ._options import EnqueueOptions, QueueOptions, SubscribeOptions
from ._protocols import Consumer, ConsumerStats, EnqueueItem, Payload, Service
from ._retry import RetryPolicy
from ._service import QueueService, new_job_id
from ._sync import SyncQueueService
from ._tasks import Task, TaskCall, Tasks, current_job
from ._url import driver_schemes, open_driver, open_service, redact_url
from ._validate import (
    DEAD_SUFFIX,
    EMPTY_HEADERS,
    MAX_ATTEMPTS,
    MAX_DURATION,
    MAX_INSTANT,
    MAX_PRIORITY,
    MIN_PRIORITY,
    base_topic,
    dead_letter_topic,
    source_topic,
    validate_headers,
    validate_job_id,
    validate_number,
    validate_payload,
    validate_priority,
    validate_topic,
)

__all__ = [
    "DEAD_SUFFIX",
    "EMPTY_HEADERS",
    "MAX_ATTEMPTS",
    "MAX_DURATION",
    "MAX_INSTANT",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "AsyncHandler",
    "BackendUnavailable",
    "CancelOutcome",
    "Capabilities",
    "Clock",
    "Closed",
    "Codec",
    "Consumer",
    "ConsumerStats",
    "Counts",
    "DeadLetter",
    "Driver",
    "EnqueueItem",
    "EnqueueOptions",
    "EnqueueResult",
    "FakeClock",
    "Handler",
    "Hooks",
    "InvalidArgument",
    "Job",
    "JobCancelled",
    "JobState",
    "JsonCodec",
    "LeaseLost",
    "NewJob",
    "Outcome",
    "Payload",
    "PayloadTooLarge",
    "QueueConsumer",
    "QueueError",
    "QueueOptions",
    "QueueService",
    "Retry",
    "RetryPolicy",
    "Service",
    "Settled",
    "SubscribeOptions",
    "SyncHandler",
    "SyncQueueService",
    "SystemClock",
    "Task",
    "TaskCall",
    "Tasks",
    "TimeLimitExceeded",
    "TopicLimits",
    "Unsupported",
    "base_topic",
    "current_job",
    "dead_letter_topic",
    "driver_schemes",
    "new_job_id",
    "open_driver",
    "open_service",
    "redact_url",
    "source_topic",
    "to_ms",
    "translate_errors",
    "validate_headers",
    "validate_job_id",
    "validate_number",
    "validate_payload",
    "validate_priority",
    "validate_topic",
]
