#!/bin/sh
# What the official traefik image's entrypoint does, for the Debian stand-in:
# a command line of flags alone is given to traefik.
set -e
if [ "${1#-}" != "$1" ]; then
    set -- traefik "$@"
fi
exec "$@"
