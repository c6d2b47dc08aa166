"""消息通知."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("notifications", __name__, description="消息通知")
