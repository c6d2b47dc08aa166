"""邀请链接：生成、二维码、打开与转化统计."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("invite_links", __name__, description="邀请链接：生成、二维码、打开与转化统计")
