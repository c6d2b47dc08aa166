"""Admin JSON API: projects."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("admin_projects_api", __name__, description="projects")
