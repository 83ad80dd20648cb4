"""queue_conformance: the conformance kit for queue_core drivers.

Wire a driver in with a :class:`Harness`, then either subclass
:class:`DriverConformance` in a pytest module, or call
:func:`run_conformance` from anywhere (no pytest needed)::

    from queue_conformance import DriverConformance, Harness

    class MyHarness(Harness):
        async def make_driver(self, clock):
            return MyDriver(clock=clock)

    class TestMyDriver(DriverConformance):
        @pytest.fixture
        def harness(self):
            return MyHarness()
"""

from . import _model_check as _model_check  # registers every check, the model one last
from ._context import CHECKS, Check, KitContext, KitSkip
from ._harness import Harness, MemoryHarness
from ._machine import QueueMachine, machine_for
from ._profiles import PROFILES, current_profile, use_profile
from ._runner import ConformanceFailure, ConformanceReport, run_check, run_conformance

try:
    from ._pytest_base import DriverConformance, _install
except ImportError:  # pragma: no cover - pytest is optional for run_conformance
    pass
else:
    _install()

__all__ = [
    "CHECKS",
    "PROFILES",
    "Check",
    "ConformanceFailure",
    "ConformanceReport",
    "DriverConformance",
    "Harness",
    "KitContext",
    "KitSkip",
    "MemoryHarness",
    "QueueMachine",
    "current_profile",
    "machine_for",
    "run_check",
    "run_conformance",
    "use_profile",
]
