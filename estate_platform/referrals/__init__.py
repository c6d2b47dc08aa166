"""The referral network (DESIGN §3): invite, handoff and 老带新 edges, and the networkx graph over them."""
from .graph import invite_graph, invite_would_create_cycle  # noqa: F401
