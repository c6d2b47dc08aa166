"""The load benchmark's reference route (benchmarks/api_load.py, issue 16 §1): one INSERT and the
request's commit, through every hook a real request passes (request id, input guard, unit of work).

Registered only when ``BENCHMARK_REFERENCE_ROUTE=1``; it is a plain Flask route, so it is in no
OpenAPI document. Its table is made by the benchmark in the benchmark's own database.
"""
from __future__ import annotations

from flask import Flask, g, jsonify, request
from sqlalchemy import text

from estate_platform.db import db, utcnow

REFERENCE_TABLE = "benchmark_reference"
CREATE_TABLE = (f"CREATE TABLE IF NOT EXISTS {REFERENCE_TABLE} (id bigserial PRIMARY KEY, "
                "buyer_phone varchar(20) NOT NULL, buyer_name varchar(50) NOT NULL, created_at timestamp NOT NULL)")


def install_benchmark_reference(app: Flask) -> None:
    @app.post("/benchmark/reference")
    def benchmark_reference():
        body = g.get("json_body") if "json_body" in g else request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        row_id = db.session.execute(
            text(f"INSERT INTO {REFERENCE_TABLE} (buyer_phone, buyer_name, created_at) "
                 "VALUES (:phone, :name, :at) RETURNING id"),
            {"phone": str(body.get("buyer_phone", ""))[:20], "name": str(body.get("buyer_name", ""))[:50],
             "at": utcnow().replace(tzinfo=None)}).scalar_one()
        return jsonify({"id": row_id}), 201
