"""Allocate and touch 2 GB, 64 MB at a time (the container's limit is far lower)."""

import time

chunks = []
for i in range(32):
    chunks.append(b"x" * (64 * 1024 * 1024))
    print(f"hog: {(i + 1) * 64} MB", flush=True)
print("hog: survived 2 GB", flush=True)
time.sleep(3600)
