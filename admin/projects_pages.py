"""Admin pages: projects."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_projects", __name__, url_prefix="/admin/projects", template_folder="templates")
