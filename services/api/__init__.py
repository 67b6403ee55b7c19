"""The HTTP API, served by gunicorn behind Traefik."""
