"""Developers (开发商) and their projects (楼盘)."""
