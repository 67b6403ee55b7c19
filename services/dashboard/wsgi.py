"""What gunicorn serves: ``gunicorn services.dashboard.wsgi:app``."""

from services.settings import load_settings

from .app import create_app

app = create_app(load_settings())
