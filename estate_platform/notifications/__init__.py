"""Notifications to consultants (WeChat subscribe messages), also listed in the app."""
