"""Admin pages: visits."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_visits", __name__, url_prefix="/admin/visits", template_folder="templates")
