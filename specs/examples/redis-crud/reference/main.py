"""Урок 3: CRUD на Redis, кеш в Redis и Docker Compose.

Как данные лежат в Redis:
- items          хеш: id товара -> товар в JSON (HSET items 7 '{"id": 7, ...}')
- items:next_id  счётчик для новых id (INCR)
- tag:<тег>      множество id товаров с этим тегом (SADD); теги в нижнем регистре
- views          упорядоченное множество: id товара -> сколько раз его открыли (ZINCRBY)
- cache:items    ответ GET /items в JSON на CACHE_TTL секунд (SET ... EX); любая запись его сбрасывает
"""

import json
import os

import redis.asyncio as redis
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel

REDIS_URL = os.getenv("REDIS_URL", "redis://redis:6379/0")
CACHE_TTL = int(os.getenv("CACHE_TTL", "60"))
CACHE_KEY = "cache:items"

app = FastAPI(title="Урок 3: товары в Redis")
# Один пул соединений на всё приложение; соединения открываются при первом запросе.
redis_client = redis.from_url(REDIS_URL, decode_responses=True)


class ItemIn(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def normalise(tags: list[str]) -> list[str]:
    # "Blue" и "blue " - один тег: храним в нижнем регистре, без повторов
    return sorted({tag.strip().lower() for tag in tags if tag.strip()})


async def load(item_id: int) -> dict | None:
    raw = await redis_client.hget("items", str(item_id))
    return json.loads(raw) if raw is not None else None


async def save(item: dict, old_tags: list[str] = ()) -> None:
    # MULTI/EXEC: товар, его теги и сброс кеша меняются вместе
    async with redis_client.pipeline(transaction=True) as pipe:
        pipe.hset("items", str(item["id"]), json.dumps(item, ensure_ascii=False))
        for tag in set(old_tags) - set(item["tags"]):
            pipe.srem(f"tag:{tag}", item["id"])
        for tag in item["tags"]:
            pipe.sadd(f"tag:{tag}", item["id"])
        pipe.delete(CACHE_KEY)
        await pipe.execute()


@app.post("/items", status_code=201)
async def create_item(data: ItemIn) -> dict:
    item_id = await redis_client.incr("items:next_id")
    item = {"id": item_id, "name": data.name, "price": data.price, "tags": normalise(data.tags)}
    await save(item)
    return item


@app.get("/items")
async def list_items() -> Response:
    cached = await redis_client.get(CACHE_KEY)
    if cached is None:
        items = [json.loads(raw) for raw in (await redis_client.hvals("items"))]
        cached = json.dumps(sorted(items, key=lambda item: item["id"]), ensure_ascii=False)
        await redis_client.set(CACHE_KEY, cached, ex=CACHE_TTL)
    return Response(cached, media_type="application/json")


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> dict:
    item = await load(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="item not found")
    await redis_client.zincrby("views", 1, str(item_id))
    return item


@app.put("/items/{item_id}")
async def update_item(item_id: int, data: ItemIn) -> dict:
    old = await load(item_id)
    if old is None:
        raise HTTPException(status_code=404, detail="item not found")
    item = {"id": item_id, "name": data.name, "price": data.price, "tags": normalise(data.tags)}
    await save(item, old["tags"])
    return item


@app.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int) -> Response:
    item = await load(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="item not found")
    async with redis_client.pipeline(transaction=True) as pipe:
        pipe.hdel("items", str(item_id))
        for tag in item["tags"]:
            pipe.srem(f"tag:{tag}", item_id)
        pipe.zrem("views", str(item_id))
        pipe.delete(CACHE_KEY)
        await pipe.execute()
    return Response(status_code=204)


@app.get("/tags/{tag}")
async def items_with_tag(tag: str) -> list[dict]:
    ids = await redis_client.smembers(f"tag:{tag.strip().lower()}")
    items = [await load(int(item_id)) for item_id in ids]
    return sorted((item for item in items if item is not None), key=lambda item: item["id"])
