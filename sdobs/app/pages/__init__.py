"""The app's pages; each module has ``layout(parsed)`` and ``register(app, ctx)``."""

from sdobs.app.pages import fleet, gpu, scaling, service

PAGE_MODULES = {"fleet": fleet, "service": service, "scaling": scaling, "gpu": gpu}

__all__ = ["PAGE_MODULES"]
