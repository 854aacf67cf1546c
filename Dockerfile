# The aranya-perf image: the package, its locustfiles and `aranya-perf`/`locust` on PATH.
# Built from the repository root: docker build --build-arg VERSION=0.1.0 -t aranya-perf:0.1.0 .
FROM python:3.11-slim-bookworm

# iproute2 for `aranya-perf link --method netns` (network namespaces, veth, tbf).
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2=6.1.0-3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/aranya-perf
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY aranya_perf ./aranya_perf
COPY loadtests ./loadtests
COPY analysis ./analysis
# The runtime set plus k8s: address maps, at the versions of constraints.txt, installed by uv as
# `make` does (bootstrapped by pip, then removed). Without .git in the context setuptools-scm cannot
# read the tag: the build passes it in (--build-arg VERSION=...).
ARG VERSION=0.1.0
RUN pip install --no-cache-dir -c constraints.txt uv \
    && SETUPTOOLS_SCM_PRETEND_VERSION="$VERSION" \
        uv pip install --system --no-cache -c constraints.txt '.[kubernetes]' \
    && pip uninstall --yes uv \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin aranya

USER 10001
WORKDIR /home/aranya
EXPOSE 5557 8089 9646
ENTRYPOINT []
CMD ["aranya-perf", "--help"]
