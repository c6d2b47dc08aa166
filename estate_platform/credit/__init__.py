"""Consultant credit (信用分): ``Consultant.rating`` as a score with a history of reasons."""
