# (a) The seed article's approach, kept as the benchmark's baseline: build tools from apt,
# `pip install` with no cache control, and `COPY . .` with no .dockerignore.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y build-essential
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
ENTRYPOINT ["python", "src/main.py"]
CMD ["train"]
