"""schemathesis on the operations the consultant app added (GET /visits, GET /team/leaderboard),
on PostgreSQL, with the same run, checks and scene as the whole-document run
(test_schemathesis.py): valid and invalid input, never a 5xx, documented statuses and bodies.
The whole-document run covers them too; this one keeps them proved on their own, whatever
other operations' scenes need."""
from __future__ import annotations

import pytest

from . import openapi_helpers as oa
from .api_scene import Scene
from .test_schemathesis import Run, caller_of, operations

pytestmark = pytest.mark.postgres

OURS = ("GET /api/mp/v1/visits", "GET /api/mp/v1/team/leaderboard")


def test_the_consultant_apps_operations_conform_to_the_document(app, client, world):
    ours = [op for op in operations(oa.MP) if str(op) in OURS]
    assert sorted(str(op) for op in ours) == sorted(OURS)
    scene = Scene(world)
    scene.visit_id  # the owner's visit, so the list has a row to serialise
    run = Run(app, client, scene, oa.MP)
    for op in ours:
        run.operation(op, caller_of(op))
    run.assert_conforms()
