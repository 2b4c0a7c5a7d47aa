import json
import time
from datetime import datetime

import redis

redis_client = redis.Redis(host="redis", port=6379, db=0)
Queue_NAME = "task_queue"


# Функция для выполнения задачи
def process_task(task_data):
    # Здесь выполняется задача
    time.sleep(5)
    print(f"Task processed: {task_data}")


# Функция воркера
def worker():
    print("Worker started")
    while True:
        # Получаем задачу из очереди
        _, task_json = redis_client.blpop(Queue_NAME)
        task = json.loads(task_json)

        # Обновляем статус задачи
        task["status"] = "processing"
        task["started_at"] = datetime.now().isoformat()
        redis_client.set(f"task:{task['id']}", json.dumps(task))

        # Выполняем задачу
        process_task(task["data"])

        # Задача выполнена
        task["status"] = "completed"
        task["finished_at"] = datetime.now().isoformat()
        redis_client.set(f"task:{task['id']}", json.dumps(task))


if __name__ == "__main__":
    worker()
