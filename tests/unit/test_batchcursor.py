"""The psycopg private method the batch cursor overrides is still there (issue 14).

:class:`schemaop.engine.batchcursor.CountingCursor` overrides
``psycopg.Cursor._check_results``. Should a psycopg release rename it or change
its arguments, the runner would quietly fall back to one step at a time; this
test fails loudly instead (and tests/integration/test_engine.py checks the
behaviour on a real server).
"""

from __future__ import annotations

import inspect

import psycopg

from schemaop.engine.batchcursor import CountingCursor


def test_psycopg_still_has_the_overridden_private_method() -> None:
    assert "_check_results" in vars(psycopg.Cursor) or any(
        "_check_results" in vars(base) for base in psycopg.Cursor.__mro__[1:]
    ), f"psycopg {psycopg.__version__} has no Cursor._check_results"
    params = list(inspect.signature(psycopg.Cursor._check_results).parameters)
    assert params == ["self", "results"], f"psycopg {psycopg.__version__}: {params}"
    assert CountingCursor._check_results is not psycopg.Cursor._check_results
    # The versions it is tested against (the module docstring says so): a new
    # major or minor version needs the integration test run and the docstring updated.
    major_minor = tuple(int(p) for p in psycopg.__version__.split(".")[:2])
    assert (3, 1) <= major_minor <= (3, 3), f"psycopg {psycopg.__version__} not yet checked"
