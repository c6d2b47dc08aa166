"""客户管理：标签、分级、跟进记录、转化漏斗."""
from __future__ import annotations

from web_common.api import PlatformBlueprint

blp = PlatformBlueprint("clients", __name__, description="客户管理：标签、分级、跟进记录、转化漏斗")
