"""Visits (带看/到访): booked by the consultant, confirmed by site staff or the buyer."""
