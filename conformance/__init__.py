"""queue_conformance: the conformance kit for queue_core drivers.

Wire a driver in with a :class:`Harness`, then either subclass
:class:`DriverConformance` in a pytest module, call :func:`run_conformance`
from anywhere (no pytest needed), or run it from the command line::

    python -m queue_conformance memory --profile quick
    python -m queue_conformance mypkg.testing:MyHarness --select model_equivalence

    from queue_conformance import DriverConformance, Harness

    class MyHarness(Harness):
        async def make_driver(self, clock):
            return MyDriver(clock=clock)

    class TestMyDriver(DriverConformance):
        @pytest.fixture
        def harness(self):
            return MyHarness()

What the kit checks, point by point, is in docs/conformance.md.
"""

from . import _scenarios as _scenarios  # registers every check, in the kit's order
from ._context import CHECKS, Check, KitContext, KitSkip
from ._harness import Harness, MemoryHarness, UrlHarness
from ._machine import QueueMachine, machine_for
from ._profiles import PROFILES, Profile, current_profile, use_profile
from ._runner import ConformanceFailure, ConformanceReport, run_check, run_conformance
from ._spec import SpecDriver

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
    "Profile",
    "QueueMachine",
    "SpecDriver",
    "UrlHarness",
    "current_profile",
    "machine_for",
    "run_check",
    "run_conformance",
    "use_profile",
]
