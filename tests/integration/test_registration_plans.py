"""The registration path's SELECT stays index probes in PostgreSQL's generic plan (issue 16 §1).

psycopg prepares a statement after its fifth execution on a connection; PostgreSQL then may keep
one generic plan for it, chosen without the parameters' values, for as long as the connection
lives (the pool keeps connections for hours; an ANALYZE of a table makes it plan again). Under
load on this machine, whose PostgreSQL runs without autovacuum, the registrations table was never
analyzed, the generic plan looked the binding registration up through
``ix_registrations_project_id_created_at`` and filtered the project's every registration, and a
registration got slower with each one the project had (``benchmarks/api_load.py`` pair by pair).
The partial indexes' predicates are now written into the query as the indexes have them (a
generic plan can use a partial index only when the query's text implies its predicate), and these
tests plan each variant generically on a busy project with statistics, as production's autovacuum
keeps them, and require every look-up of ``registrations`` to be bounded by the buyer.
"""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from estate_platform.db import db
from estate_platform.registrations import path

pytestmark = pytest.mark.postgres

#: Each look-up of the situation SELECT and the index that answers it without a scan.
PROBES = {"uq_registrations_binding_project_buyer", "uq_registrations_open_per_consultant",
          "ix_registrations_buyer_id_created_at", "ix_registrations_expired_project_buyer",
          "ix_registrations_consultant_project_created"}
VALUES = {"phone": "'13800000000'", "day_start": "'2026-12-02 16:00'", "project_id": "1", "user_id": "1",
          "consultant_id": "1"}


def _prepared(statement) -> tuple[str, str]:
    """The statement as ``PREPARE`` text with ``$n`` parameters, and the ``EXECUTE`` arguments."""
    compiled = statement.compile(dialect=postgresql.dialect())
    order: list[str] = []

    def expanded(match):  # an IN list of constants: its values written out, as at execution
        return ", ".join(f"'{value}'" for value in compiled.binds[match.group(1)].value)

    def number(match):
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"
    sql = re.sub(r"%\((\w+)\)s", number, re.sub(r"__\[POSTCOMPILE_(\w+)\]", expanded, str(compiled)))
    arguments = [VALUES.get(name) or repr(compiled.binds[name].value) for name in order]
    return sql, ", ".join(str(a) for a in arguments)


def _scans(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _scans(child)


VARIANTS = {
    "the request path (caller read in the same SELECT)": lambda: path._situation_statement(
        None, by_caller=True, dialect_name="postgresql"),
    "a consultant already checked, good credit": lambda: path._situation_statement(False),
    "a consultant already checked, low credit": lambda: path._situation_statement(True),
}


def _a_busy_project(world, app, registrations: int = 3000) -> None:
    """One project with thousands of registrations by a few consultants (half of them expired), its
    statistics taken as autovacuum takes them in production: with no statistics at all the planner's
    choice between two equally cheap-looking indexes is a coin toss (this machine runs without
    autovacuum; the benchmarks analyze for the same reason, ``benchmarks/_measure.py``)."""
    project = world.project()
    consultants = [world.operating_consultant().id for _ in range(3)]
    with app.app_context():
        connection = db.session.connection()
        connection.execute(text(
            "INSERT INTO buyers (phone, name, token_version, created_at) "
            "SELECT '139' || lpad(n::text, 8, '0'), '买家', 0, now() FROM generate_series(1, :n) n"), {"n": registrations})
        connection.execute(text(
            "INSERT INTO registrations (project_id, buyer_id, consultant_id, buyer_name, status, binding, "
            "protection_mode, protected_until, created_at, updated_at, ended_at) "
            "SELECT :project, b.id, (ARRAY[:c1, :c2, :c3])[1 + b.id % 3], '买家', "
            "CASE WHEN b.id % 2 = 0 THEN 'expired' ELSE 'reported' END, b.id % 2 = 1, 'report', "
            "now() + interval '30 days', now(), now(), CASE WHEN b.id % 2 = 0 THEN now() END "
            "FROM buyers b WHERE b.phone LIKE '139%'"),
            {"project": project, "c1": consultants[0], "c2": consultants[1], "c3": consultants[2]})
        connection.execute(text("ANALYZE registrations, buyers, projects, consultants, wechat_users"))
        db.session.commit()


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_look_up_of_registrations_is_an_index_probe_in_the_generic_plan(world, app, variant):
    _a_busy_project(world, app)
    sql, arguments = _prepared(VARIANTS[variant]())
    with app.app_context():
        connection = db.session.connection()
        connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        connection.exec_driver_sql(f"PREPARE situation_generic AS {sql}")
        try:
            [[document]] = connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) EXECUTE situation_generic({arguments})").all()
        finally:
            connection.exec_driver_sql("DEALLOCATE situation_generic")
        db.session.rollback()
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    looked_up = [node for node in _scans(plan) if node.get("Relation Name") == "registrations"]
    assert looked_up, plan
    for node in looked_up:
        if node["Node Type"] == "Bitmap Heap Scan":  # the index's matches read in page order
            [node] = [child for child in _scans(node) if child["Node Type"] == "Bitmap Index Scan"]
        assert node["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"), node
        assert node["Index Name"] in PROBES, node
        # Every look-up is bounded by the buyer (a handful of rows), except the low-credit count,
        # bounded by the consultant's registrations there today; never the project's or the
        # consultant's whole history (``status = $n`` kept the expired look-up off its partial index).
        condition = node.get("Index Cond", "")
        today = node["Index Name"] == "ix_registrations_consultant_project_created" and "created_at" in condition
        assert "buyer_id" in condition or today, node
