"""Reports for the admin dashboards (看板, issue 13 §2): the platform funnel (``funnel``) and the
team views (``teams``). Aggregate SQL (GROUP BY) only; the referral network's own questions
(team size, leaderboard, super users) stay in ``estate_platform.referrals.reports``."""
