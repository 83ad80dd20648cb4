"""Imports every scenario module so its checks register (in this order)."""

from . import _checks_data as _checks_data
from . import _checks_leases as _checks_leases
from . import _checks_runtime as _checks_runtime

__all__: list[str] = []
