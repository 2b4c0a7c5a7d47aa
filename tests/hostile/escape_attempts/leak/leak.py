"""Print what reached this container from the grading machine, then answer HTTP on 8000."""
import http.server
import os
import pathlib
import socket
import struct
import time

print("env token:", os.environ.get("GRADER_CANARY_TOKEN", "<unset>"), flush=True)
print("build", pathlib.Path("/arg.txt").read_text().strip(), flush=True)
print("cache:", pathlib.Path("/cache.txt").read_text().strip(), flush=True)


def gateway() -> str:
    with open("/proc/net/route") as routes:
        for line in routes.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))
    return "0.0.0.0"


port = int(os.environ["CANARY_PORT"])
for host in (gateway(), "host.docker.internal"):
    try:
        socket.create_connection((host, port), timeout=3).close()
        print(f"reached the host at {host}:{port}", flush=True)
    except OSError as exc:
        print(f"blocked at {host}:{port} ({exc})", flush=True)
for _ in range(120):  # the swapper's second run, after its restart, has looked at /mnt
    if os.path.exists("/sub/looked"):
        break
    time.sleep(0.5)
http.server.HTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler).serve_forever()
