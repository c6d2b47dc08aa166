"""Admin JSON API: visits."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("admin_visits_api", __name__, description="visits")
