"""An automated grader for the lab on task queues, WebSockets and Docker."""

__version__ = "0.1.0"
