"""Lab 4: background jobs, Celery, a Redis queue and a WebSocket chat."""
