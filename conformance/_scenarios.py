"""Imports every check module so that its checks register, then puts them
in the order the kit runs them: the quick deterministic scenarios first
(tier 0), then the model comparison (tier 1), then the scenarios that take
real time (tier 2), so that ``fail_fast`` stops a broken driver early."""

from . import _checks_data as _checks_data
from . import _checks_features as _checks_features
from . import _checks_leases as _checks_leases
from . import _checks_limits as _checks_limits
from . import _checks_moves as _checks_moves
from . import _checks_resend as _checks_resend
from . import _checks_runtime as _checks_runtime
from . import _checks_wakeups as _checks_wakeups
from . import _model_check as _model_check
from ._context import CHECKS

__all__: list[str] = []

_ordered = sorted(CHECKS.values(), key=lambda registered: registered.tier)
CHECKS.clear()
CHECKS.update((registered.name, registered) for registered in _ordered)
