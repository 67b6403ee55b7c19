"""dramatiq-dashboard as a service of its own, at /admin on its port and behind Traefik."""
