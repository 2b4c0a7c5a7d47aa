"""The notification line shared by the BackgroundTasks job and the Celery task."""

from datetime import datetime

from app.config import LOG_FILE


def save_notification(email: str, message: str) -> None:
    """Append one notification line to log.txt."""
    line = f"notification for {email}: {message} saved. Timestamp: {datetime.now().isoformat()}\n"
    with open(LOG_FILE, "a", encoding="utf-8") as log:
        log.write(line)
