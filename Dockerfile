# One image for the web process and the workers.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STUDIO_DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY studio ./studio
COPY automl_engine ./automl_engine
RUN pip install --no-cache-dir -c constraints.txt .
COPY . .
RUN useradd --create-home studio && mkdir -p /data && chown studio /data
USER studio
EXPOSE 8000
CMD ["gunicorn", "studio.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "600"]
