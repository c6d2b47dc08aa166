"""The consultant's client book (客户管理): tags, tiers, follow-up notes, funnel."""
