# faultlab service image: one static binary, nothing else.
#
# Nothing can be pulled on the lab machines, so there is no builder stage:
# build the binary first (`make build`, or scripts/images.sh which does it),
# then `docker build -t faultlab/faultlab:local .`.
# The .dockerignore keeps the context to bin/faultlab and docker/rootfs.
FROM scratch

# scratch has no mkdir: the empty data dir comes from the build context,
# owned by the unprivileged user so SQLite, the JWT key and logs can be written.
COPY --chown=65532:65532 docker/rootfs/data /data
COPY bin/faultlab /faultlab

USER 65532:65532
ENV FAULTLAB_DATA_DIR=/data
EXPOSE 8080 8081 8082 8083 8084

# No curl in scratch: the binary checks itself. Compose overrides --url per
# service (each listens on its own port).
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
    CMD ["/faultlab", "healthcheck"]

ENTRYPOINT ["/faultlab"]
CMD ["serve", "gateway"]
