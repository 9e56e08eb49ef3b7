"""A bench tool that fails says why: the exception lines of a Java stack trace, not its
last frames (the Flowable peer's first failure read only `at org.apache.ibatis...`)."""

from __future__ import annotations

import sys

import pytest

from bench import loadtools

JAVA_TRACE = """\
Exception in thread "main" org.apache.ibatis.exceptions.PersistenceException:
### Error updating database.  Cause: org.postgresql.util.PSQLException: ERROR: deadlock detected
\tat org.apache.ibatis.session.defaults.DefaultSqlSession.update(DefaultSqlSession.java:199)
Caused by: org.postgresql.util.PSQLException: ERROR: deadlock detected
\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2733)
\t... 14 more
"""


def test_a_failed_tool_names_the_exceptions_of_its_stack_trace() -> None:
    script = f"import sys; sys.stderr.write({JAVA_TRACE!r}); sys.exit(1)"
    with pytest.raises(RuntimeError) as failure:
        loadtools.run_measured([sys.executable, "-c", script], timeout=30)
    message = str(failure.value)
    assert "failed (1)" in message
    assert "PersistenceException" in message
    assert "Caused by: org.postgresql.util.PSQLException: ERROR: deadlock detected" in message
    assert "QueryExecutorImpl" not in message  # frames are left out


def test_a_failed_tool_without_a_trace_shows_the_end_of_what_it_wrote() -> None:
    script = "import sys; sys.stderr.write('x' * 900 + 'the disk is full'); sys.exit(3)"
    with pytest.raises(RuntimeError) as failure:
        loadtools.run_measured([sys.executable, "-c", script], timeout=30)
    message = str(failure.value)
    assert "failed (3)" in message and message.endswith("the disk is full")
    assert len(message) < 600
