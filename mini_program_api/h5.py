"""Buyer-facing H5 pages (mobile web, Chinese): invite landing pages."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("h5", __name__, template_folder="templates", static_folder="static", static_url_path="/h5/static")
