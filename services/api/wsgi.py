"""What gunicorn serves: ``gunicorn services.api.wsgi:app``."""

import logging

from services.settings import load_settings

from .app import create_app

settings = load_settings()
logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
app = create_app(settings)
