"""Run the kit from the command line::

    python -m queue_conformance TARGET [--profile NAME] [--select CHECK ...]

TARGET is ``memory`` (the reference driver), ``module:attr`` naming a
:class:`Harness` subclass, a harness instance or a function returning a
harness, or a URL given to ``queue_core.open_driver`` (for example
``redis://localhost:6379/0``). Prints the report; exits 0 when every check
passed or was skipped with a reason, 1 when one failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from ._context import CHECKS
from ._harness import Harness, MemoryHarness, UrlHarness
from ._profiles import PROFILES
from ._runner import run_conformance

__all__ = ["harness_factory", "main"]


def harness_factory(target: str) -> Callable[[], Harness]:
    """What TARGET names, as a function that makes a fresh harness."""
    if target == "memory":
        return MemoryHarness
    if "://" in target:
        return lambda: UrlHarness(target)
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(
            f"unknown target {target!r}: use 'memory', 'module:attr' (a Harness) or a URL"
        )
    try:
        value: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None
    if isinstance(value, Harness):
        instance = value
        return lambda: instance
    if callable(value):
        factory = value

        def make() -> Harness:
            harness = factory()
            if not isinstance(harness, Harness):
                raise TypeError(f"{target} returned {type(harness).__name__}, not a Harness")
            return harness

        return make
    raise ValueError(f"{target} is a {type(value).__name__}, not a Harness or a factory of one")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m queue_conformance",
        description="Certify a queue_core driver with the conformance kit.",
    )
    parser.add_argument(
        "target",
        nargs="?",
        help="'memory', 'module:attr' naming a Harness (class, instance or factory), or a URL "
        "for queue_core.open_driver",
    )
    parser.add_argument(
        "--profile",
        default="ci",
        choices=sorted(PROFILES),
        help="how hard to search (default: ci)",
    )
    parser.add_argument(
        "--select", nargs="+", metavar="CHECK", help="run only these checks (default: all)"
    )
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print every failure's whole traceback, and the runtime's log",
    )
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, registered in CHECKS.items():
            points = ", ".join(map(str, registered.contract))
            text = " ".join(registered.doc.split())
            print(f"{name} [{points}]: {text[:110] + '...' if len(text) > 110 else text}")
        return 0
    if args.target is None:
        parser.error("name a TARGET: 'memory', 'module:attr' or a URL")
    unknown = [name for name in args.select or () if name not in CHECKS]
    if unknown:
        parser.error(f"unknown checks {unknown}; see --list")
    try:
        factory = harness_factory(args.target)
    except ValueError as exc:
        parser.error(str(exc))
    quiet = logging.NullHandler()
    if args.verbose:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    else:  # the runtime's own warnings (a dead letter the kit caused on purpose) are noise here
        logging.getLogger("queue_core").addHandler(quiet)
    try:
        report = run_conformance(
            factory, profile=args.profile, fail_fast=args.fail_fast, select=args.select
        )
    finally:
        logging.getLogger("queue_core").removeHandler(quiet)
    print(report.summary())
    if args.verbose:
        for name, text in report.failed.items():
            print(f"\n== {name} ==\n{text}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
