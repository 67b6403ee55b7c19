#!/bin/sh
# What the official docker:dind image's entrypoint does, for the Debian
# stand-in: a Docker engine inside a (--privileged) container. Its flags, or
# none, are given to dockerd, which listens on its socket and, for the other
# containers of its network, on TCP port 2375 (no TLS: a test network's).
set -e
export container=docker
# What dockerd expects of a machine of its own (moby's hack/dind).
if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
    mount -t securityfs none /sys/kernel/security || true
fi
mount --make-rshared /
# Without --privileged (which this machine's engine may refuse), /sys and the
# cgroup hierarchies come read-only: the container's capabilities let it make
# them writable in its own mount namespace.
for path in /sys /sys/fs/cgroup/*; do
    if mountpoint -q "$path" && grep -q " $path [^ ]* ro," /proc/self/mounts; then
        mount -o remount,bind,rw "$path"
    fi
done
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 "$@"
fi
exec "$@"
