import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
django_application = get_wsgi_application()

from sessioncloud.api.fastconfig import ConfigFastPath  # noqa: E402 - needs Django set up

# Cached phone configs are answered before Django's request cycle (see api/fastconfig.py).
application = ConfigFastPath(django_application)
