"""Django as a plain WSGI application (`sessioncloud serve` uses serving/front.py instead)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
application = get_wsgi_application()
