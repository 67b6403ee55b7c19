"""The processes of the job-queue service: API, dashboard, worker and the local stack."""

#: The service's version, as published in /openapi.json (kept equal to pyproject.toml's).
__version__ = "0.1.0"
