"""Grading a whole class: many submissions, one gradebook (`runner.py batch`)."""
