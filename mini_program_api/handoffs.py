"""转介（二次分配）：发起、接收、拒绝."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("handoffs", __name__, description="转介（二次分配）：发起、接收、拒绝")
