"""dramatiq-dashboard as a service of its own, routed by Traefik at /admin."""
