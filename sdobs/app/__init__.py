"""The Dash monitoring app: one page per service, the fleet, scaling and GPU cost.

``create_app(url)`` builds it; ``serve(app)`` runs it in this process (the demo's way);
``sdobs.app.wsgi:server`` is the WSGI object for gunicorn or waitress.
"""

from sdobs.app.app import create_app
from sdobs.app.serve import AppHandle, serve

__all__ = ["AppHandle", "create_app", "serve"]
