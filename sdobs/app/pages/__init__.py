"""The app's pages; each module has ``layout(parsed)`` and ``register(app, ctx)``."""

from sdobs.app.pages import alerts, fleet, gpu, loadtest, scaling, service

PAGE_MODULES = {"fleet": fleet, "service": service, "scaling": scaling, "gpu": gpu,
                "loadtest": loadtest, "alerts": alerts}

__all__ = ["PAGE_MODULES"]
