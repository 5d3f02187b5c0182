# syntax=docker/dockerfile:1
# Janus WebRTC server from Debian's package (bookworm: janus 1.1.2), run as a non-root user.
#   docker build -f deploy/images/janus.Dockerfile -t registry.example.internal/haven/janus:1.1.2 deploy/images
# The chart renders the configuration into /run/janus/conf (see templates/janus.yaml) and starts
# `janus --configs-folder=/run/janus/conf ...`; plugins are found through /usr/lib/janus.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends janus ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && plugins="$(dirname "$(dpkg -L janus | grep '/janus/plugins/libjanus_videoroom.so$')")" \
 && ln -s "$(dirname "$plugins")" /usr/lib/janus \
 && groupadd --gid 10001 janus-haven \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin janus-haven
USER 10001:10001
EXPOSE 8188/tcp 7188/tcp
ENTRYPOINT ["janus"]
CMD ["--configs-folder=/run/janus/conf", "--config=/run/janus/conf/janus.jcfg"]
