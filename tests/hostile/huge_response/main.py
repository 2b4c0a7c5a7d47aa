"""GET / streams 200 MB of HTML filler before the chat page: a grader that reads the whole
answer holds 200 MB; the real page (and its `new WebSocket(`) comes only at the very end."""

from app import background, celery_routes, chat, task_queue
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

app = FastAPI(title="Lab 4: a 200 MB page")

FILLER = "<p>" + "lorem ipsum " * 5461 + "</p>\n"  # 65 540 bytes
COUNT = 200 * 1024 * 1024 // len(FILLER)


def page():
    for _ in range(COUNT):
        yield FILLER
    yield chat.CHAT_PAGE


@app.get("/")
def huge_page() -> StreamingResponse:
    return StreamingResponse(page(), media_type="text/html")


for part in (background, celery_routes, task_queue, chat):  # chat's own `/` comes after this one
    app.include_router(part.router)
