"""queue_conformance: the conformance kit for queue_core drivers.

Wire a driver in with a :class:`Harness`, then either subclass
:class:`DriverConformance` in a pytest module, or call
:func:`run_conformance` from anywhere.
"""

from ._harness import Harness

__all__ = ["Harness"]
