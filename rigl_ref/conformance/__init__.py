"""Conformance: rigl_ref against the reference vectors computed by the frameworks themselves.

* ``vectors/``: the shipped suites (format and provenance in ``vectors/README.md``);
* ``runner``: finds suite folders, runs each case through its handler, formats the report
  (``rigl-ref conformance [PATH ...]``);
* ``handlers``: one module per suite name, ``run_case(case, arrays) -> list[Mismatch]``;
* ``compare``: :class:`Mismatch` and the exact / ulp-tolerance comparisons the handlers use.
"""

from rigl_ref.conformance.compare import Mismatch, compare_close, compare_exact

__all__ = ["Mismatch", "compare_exact", "compare_close"]
