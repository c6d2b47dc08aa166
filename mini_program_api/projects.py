"""楼盘：列表与详情（仅在售楼盘接受报备）."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("projects", __name__, description="楼盘：列表与详情（仅在售楼盘接受报备）")
