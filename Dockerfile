# syntax=docker/dockerfile:1
# Build the widget bundle.
FROM node:20-slim AS widget
WORKDIR /src/widget
COPY widget/package.json widget/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY widget/ ./
RUN npm run build

# Install chatd into a virtual environment.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/chatd
COPY pyproject.toml README.md ./
COPY chatd/ chatd/
COPY router/ router/
COPY bench/ bench/
RUN /opt/chatd/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /app chatd
WORKDIR /app
COPY --from=build /opt/chatd /opt/chatd
COPY --from=widget /src/widget/dist /app/widget/dist
COPY widget/pages /app/widget/pages
ENV PATH=/opt/chatd/bin:$PATH \
    CHATD_HOST=0.0.0.0 \
    CHATD_PORT=8080 \
    CHATD_STATIC_DIR=/app/widget \
    PYTHONUNBUFFERED=1
USER chatd
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["chatd", "serve"]
