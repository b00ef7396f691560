"""Prints where the studio is and what to do first; `make run` calls it before starting the servers."""
from django.core.management.base import BaseCommand

from studio.accounts.models import User


class Command(BaseCommand):
    help = "Print the studio's address and first steps."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url, **options):
        self.stdout.write(self.style.SUCCESS(f"AutoML Studio: {url}  (Ctrl-C stops the web server and the worker)"))
        if not User.objects.exists():
            self.stdout.write(f"First visit: open {url} and create the administrator account.")
