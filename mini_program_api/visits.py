"""带看：预约、核销码、购房者确认、来访确认单."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("visits", __name__, description="带看：预约、核销码、购房者确认、来访确认单")
